/**
 * Fetching a client's `http(s)` image URL, safely: a timeout over the whole
 * fetch, a size cap that stops reading at the limit, at most 3 redirects, and
 * the address check of lib/images/address.ts on the address actually
 * connected to, at every hop. The check sits in the connection's own DNS
 * lookup (and again on the connected socket), so a name that resolves to a
 * public address for a check and to a private one for the connection
 * (DNS rebinding) gains nothing.
 */
import { lookup as dnsLookup, type LookupAddress, type LookupOptions } from 'node:dns'
import { request as httpRequest, type IncomingMessage } from 'node:http'
import { request as httpsRequest } from 'node:https'
import type { Socket } from 'node:net'
import { XipuError } from '../errors.ts'
import { isAllowedHost, isIpLiteral, refusedRange, type AddressPolicy } from './address.ts'

const MAX_REDIRECTS = 3 // a chain longer than this is a loop or a trick, not an image host

export interface FetchImageOptions extends AddressPolicy {
  /** Bytes read at most; one more and the fetch ends with 413. */
  maxBytes: number
  /** The whole fetch, redirects included, in ms. */
  timeoutMs: number
  /** Hosts fetched whatever they resolve to (`XIPU_IMAGE_FETCH_ALLOW`). */
  allowHosts: readonly string[]
  /** Where the URL is in the client's request, for error messages. */
  param?: string
  signal?: AbortSignal
}

/**
 * The bytes at `url`, following up to 3 redirects.
 *
 * @example
 * const { bytes } = await fetchImage('https://example.com/cat.png', { maxBytes: 10 << 20, timeoutMs: 15000, allowPrivate: false, allowHosts: [] })
 */
export async function fetchImage(url: string, options: FetchImageOptions): Promise<{ bytes: Uint8Array; finalUrl: string }> {
  const timeout = AbortSignal.timeout(options.timeoutMs)
  const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout
  let current = new URL(url)
  for (let hop = 0; ; hop++) {
    let response: IncomingMessage
    try {
      response = await _get(current, options, signal)
    } catch (error) {
      throw _failure(error, current, options, signal, timeout)
    }
    const status = response.statusCode ?? 0
    if (status >= 300 && status < 400 && response.headers.location) {
      response.resume()
      if (hop >= MAX_REDIRECTS) throw _bad(options, `The image URL ${_where(options)}redirects more than ${MAX_REDIRECTS} times.`)
      const next = new URL(response.headers.location, current)
      if (next.protocol !== 'http:' && next.protocol !== 'https:') throw _bad(options, `The image URL ${_where(options)}redirects to a ${next.protocol} URL.`)
      current = next
      continue
    }
    if (status !== 200) {
      response.resume()
      throw _bad(options, `Fetching the image ${_where(options)}(${_show(current)}) answered HTTP ${status}.`)
    }
    try {
      return { bytes: await _readCapped(response, options), finalUrl: current.href }
    } catch (error) {
      throw _failure(error, current, options, signal, timeout)
    }
  }
}

/** One GET, over a connection whose address passed the check. */
function _get(url: URL, options: FetchImageOptions, signal: AbortSignal): Promise<IncomingMessage> {
  const trusted = isAllowedHost(url.hostname, options.allowHosts)
  if (!trusted && isIpLiteral(url.hostname)) _checkAddress(url.hostname, url, options)
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest
  return new Promise((resolve, reject) => {
    const req = send(
      url,
      {
        method: 'GET',
        // A fresh connection: no pooled socket to another address is reused.
        agent: false,
        headers: { accept: 'image/*', 'user-agent': 'xipu-openai (image fetch)' },
        signal,
        ...(trusted ? {} : { lookup: _checkedLookup(url, options) }),
      },
      resolve,
    )
    req.once('error', reject)
    if (!trusted) {
      // Again on the socket itself: the address the connection really reached.
      req.once('socket', (socket: Socket) =>
        socket.once('connect', () => {
          try {
            if (socket.remoteAddress) _checkAddress(socket.remoteAddress, url, options)
          } catch (error) {
            req.destroy(error as Error)
          }
        }),
      )
    }
    req.end()
  })
}

/** A `lookup` for node:net that passes on only addresses the policy allows. */
function _checkedLookup(url: URL, options: FetchImageOptions) {
  return (hostname: string, lookupOptions: LookupOptions, callback: (error: Error | null, address: string | LookupAddress[], family?: number) => void) => {
    dnsLookup(hostname, { ...lookupOptions, all: true }, (error, addresses) => {
      if (error) return callback(error, '')
      const allowed = addresses.filter((a) => refusedRange(a.address, options) === undefined)
      if (allowed.length === 0) {
        try {
          _checkAddress(addresses[0]?.address ?? '', url, options)
        } catch (refused) {
          return callback(refused as Error, '')
        }
      }
      if (lookupOptions.all) return callback(null, allowed)
      callback(null, allowed[0]!.address, allowed[0]!.family)
    })
  }
}

function _checkAddress(address: string, url: URL, options: FetchImageOptions): void {
  const range = refusedRange(address, options)
  if (range === undefined) return
  const advice = range === 'unspecified' || range === 'broadcast' || range === 'multicast' ? '' : ' Set XIPU_IMAGE_FETCH_PRIVATE=1 (or list the host in XIPU_IMAGE_FETCH_ALLOW) to allow it.'
  throw _bad(options, `The image URL ${_where(options)}leads to ${_show(url)}, a ${range} address (${address}): the adapter fetches images only from public addresses.${advice}`)
}

async function _readCapped(response: IncomingMessage, options: FetchImageOptions): Promise<Uint8Array> {
  const declared = Number(response.headers['content-length'])
  if (Number.isFinite(declared) && declared > options.maxBytes) {
    response.destroy()
    throw _tooLarge(options)
  }
  const chunks: Buffer[] = []
  let total = 0
  for await (const chunk of response) {
    total += (chunk as Buffer).length
    if (total > options.maxBytes) {
      // Stop reading at the limit: the rest is never downloaded.
      response.destroy()
      throw _tooLarge(options)
    }
    chunks.push(chunk as Buffer)
  }
  return new Uint8Array(Buffer.concat(chunks))
}

function _failure(error: unknown, url: URL, options: FetchImageOptions, signal: AbortSignal, timeout: AbortSignal): XipuError {
  if (error instanceof XipuError) return error
  if (timeout.aborted) return _bad(options, `Fetching the image ${_where(options)}(${_show(url)}) took longer than XIPU_IMAGE_FETCH_TIMEOUT (${options.timeoutMs} ms).`)
  if (signal.aborted) return new XipuError('E_ABORTED', 'image fetch: the client went away', { cause: error })
  return _bad(options, `Fetching the image ${_where(options)}(${_show(url)}) failed: ${(error as Error).message}.`)
}

function _tooLarge(options: FetchImageOptions): XipuError {
  return new XipuError('E_BODY_TOO_LARGE', `The image ${_where(options)}is larger than XIPU_IMAGE_MAX_BYTES (${options.maxBytes} bytes).`, { param: options.param })
}

function _bad(options: FetchImageOptions, message: string): XipuError {
  return new XipuError('E_BAD_REQUEST', message, { param: options.param })
}

function _where(options: FetchImageOptions): string {
  return options.param ? `at ${options.param} ` : ''
}

/** The URL without its query (which may hold a signature or a token). */
function _show(url: URL): string {
  return `${url.protocol}//${url.host}${url.pathname}`
}
