/**
 * The one client of the XIPU platform. It owns the base URL, the headers the
 * web client sends, the pacing (every call waits its turn in the one pacer),
 * and retries of calls that failed before any byte was relayed (platform
 * failures become `XipuError` codes in lib/xipu/failures.ts).
 */
import type { IncomingMessage } from 'node:http'
import type { Readable } from 'node:stream'
import { setTimeout as sleep } from 'node:timers/promises'
import { AbortController as NodeAbortController, Blob as NodeBlob, fetch as nodeFetch, FormData as NodeFormData, Headers as NodeHeaders } from 'node-fetch-native/node'
import { createFetch, type FetchResponse } from 'ofetch'
import { closeOnReturn } from '../close-on-return.ts'
import { XipuError } from '../errors.ts'
import type { Pacer, Priority } from './pacer.ts'
import { loginAdvice } from '../advice.ts'
import type { Settings } from '../settings.ts'
import { isSuccessCode, type XipuEvent } from './events.ts'
import { codeError, isRetryable, normalizeFailure, statusError } from './failures.ts'
import { postStream, readEvents, readJsonBody } from './stream.ts'

// The web client's own headers; the gateway is known to check origin and referer.
const WEB_ORIGIN = 'https://xipuai.xjtlu.edu.cn'
const USER_AGENT = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/142.0.0.0 Safari/537.36'

const RETRY_BASE_MS = 500 // doubled each attempt, on top of the pacer's own gap
const RETRY_MAX_MS = 8000

/**
 * JSON calls: ofetch over node-fetch-native's fetch, which is built on
 * node:http, rather than over Node's own fetch (undici). Measured in the
 * adapter: undici costs 11 MiB resident on its first call and keeps a parser
 * and buffers for every pooled connection (100 concurrent streams: 71 MiB
 * through undici, 12 MiB through node:http), which alone broke the memory
 * target. Completions use node:http directly (see `postStream` in stream.ts).
 */
const $fetch = createFetch({
  fetch: nodeFetch as unknown as typeof globalThis.fetch,
  Headers: NodeHeaders as unknown as typeof globalThis.Headers,
  AbortController: NodeAbortController as unknown as typeof globalThis.AbortController,
})

export interface CatalogModel {
  id: string
  label?: string
  multimodal: boolean
}

export interface XipuSession {
  id: number
  name: string
  model?: string
  contextCount?: number
}

export interface SessionFields {
  name: string
  model: string
  temperature: number
  maxToken: number
  presencePenalty: number
  frequencyPenalty: number
  /** Earlier turns the platform feeds back to the model (0: none; the web default is 5). */
  contextCount?: number
  /** The session's system prompt. */
  prompt?: string
}

export interface CompletionPayload {
  sessionId: number
  text: string
  files?: string[]
  online?: boolean
  thinking?: string
}

/** A file to upload: its bytes, a file name and its media type (`image/png`). */
export interface UploadFile {
  data: Uint8Array
  name: string
  type: string
}

export interface CallOptions {
  priority?: Priority
  signal?: AbortSignal
  /** The client request this call serves, for the pacer's follow-up rule (default: `signal`). */
  owner?: object
  /** Retries after a 429, 5xx or network failure (default: the `XIPU_MAX_RETRIES` setting). */
  retries?: number
  /**
   * Sees the platform's reply as it came, before any reading into our shapes:
   * a JSON call's whole body, each `data:` text of a completion stream. The
   * doctor (`adapter.ts --check`) reports from it what the platform really sends.
   */
  onRaw?: (raw: unknown) => void
  /** Called when the call's turn at the pacer comes, just before it is made (once, retries aside). */
  onTurn?: () => void
  /** Served before every waiting request (see `Turn.urgent`): deletes that free room under the session cap. */
  urgent?: boolean
}

/**
 * @example
 * const client = createXipuClient({ settings: () => store.get(), pacer })
 * const { id } = await client.saveSession({ name, model: 'gpt-4.1', … })
 */
export function createXipuClient(deps: { settings: () => Settings; pacer: Pacer }) {
  function _headers(settings: Settings): Record<string, string> {
    if (!settings.jmToken) throw new XipuError('E_NO_TOKEN', `No JM_TOKEN is configured: ${loginAdvice(settings)} to log in.`)
    const headers: Record<string, string> = {
      accept: 'application/json, text/plain, */*',
      'content-type': 'application/json',
      origin: WEB_ORIGIN,
      referer: `${WEB_ORIGIN}/`,
      'user-agent': USER_AGENT,
      'jm-token': settings.jmToken,
    }
    if (settings.sdpSession) headers['sdp-app-session'] = settings.sdpSession
    if (settings.cookie) headers.cookie = settings.cookie
    return headers
  }

  /**
   * One paced attempt after another until success, a final error, or no retries
   * left. An attempt may call `sent` once its request is written out: the gap to
   * the next call then counts from there, not from the reply, which for a
   * completion is the model's first token.
   */
  async function _withRetries<T>(label: string, options: CallOptions, attempt: (settings: Settings, signal: AbortSignal, sent: () => void) => Promise<T>): Promise<T> {
    const settings = deps.settings()
    const retries = options.retries ?? settings.maxRetries
    for (let i = 0; ; i++) {
      await deps.pacer.waitTurn({ priority: options.priority, signal: options.signal, label, owner: options.owner, urgent: options.urgent })
      if (i === 0) options.onTurn?.()
      const startedAt = deps.pacer.lastStartAt()
      const current = deps.settings()
      const timeout = AbortSignal.timeout(current.callTimeoutMs)
      const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout
      // Reached the platform: when the request was written out if the attempt said so, else by its reply.
      let sentAt: number | undefined
      const sent = () => {
        sentAt = performance.now()
        deps.pacer.noteArrival(startedAt, sentAt)
      }
      try {
        const result = await attempt(current, signal, sent)
        deps.pacer.noteArrival(startedAt, sentAt)
        deps.pacer.noteAnswered(startedAt)
        return result
      } catch (raw) {
        deps.pacer.noteArrival(startedAt, sentAt)
        const error = normalizeFailure(label, raw, options.signal, timeout)
        if (error.upstreamStatus !== undefined) deps.pacer.noteAnswered(startedAt)
        if (i >= retries || !isRetryable(error)) throw error
        const backoff = Math.min(RETRY_MAX_MS, RETRY_BASE_MS * 2 ** i) * (0.75 + Math.random() * 0.5)
        await _sleep(backoff, options.signal)
      }
    }
  }

  /** `body` may be a function: it is called when the call's turn comes, so that it can take in what arrived while it waited. */
  async function _json<T>(label: string, method: 'GET' | 'POST', path: string, body: Record<string, unknown> | (() => Record<string, unknown>) | undefined, options: CallOptions = {}): Promise<T> {
    return _withRetries(label, options, async (settings, signal) => {
      const query: Record<string, string> = { sf_request_type: 'ajax' }
      if (method === 'GET') query.lang = settings.lang
      const payload = typeof body === 'function' ? body() : body
      const response: FetchResponse<unknown> = await $fetch.raw(`${settings.apiBase}/${path}`, {
        method,
        query,
        headers: _headers(settings),
        body: payload ? { ...payload, lang: settings.lang } : undefined,
        signal,
        retry: 0,
        ignoreResponseError: true,
        responseType: 'json',
      })
      return _unwrap<T>(label, response, options)
    })
  }

  /** The `data` of the platform's JSON envelope (`{code, msg, data}`); an HTTP error, a reply that is not JSON or a failure code throws. */
  function _unwrap<T>(label: string, response: FetchResponse<unknown>, options: CallOptions): T {
    const data = response._data as { code?: unknown; msg?: unknown; data?: unknown } | undefined
    options.onRaw?.(data)
    if (!response.ok) throw statusError(label, response.status, data)
    if (!data || typeof data !== 'object') throw new XipuError('E_UPSTREAM', `The platform answered ${label} with something that is not JSON.`)
    if (!isSuccessCode(data.code)) throw codeError(label, data)
    return data.data as T
  }

  /**
   * Starts a completion and returns its events once the platform has begun
   * to answer; failures before that are retried. The iterator aborts the
   * upstream request when it is closed early, ends with `E_STREAM_TRUNCATED`
   * when `[DONE]` never came and `E_STREAM_STALLED` after `idleTimeoutMs` of
   * silence.
   */
  async function openCompletion(payload: CompletionPayload, options: CallOptions = {}): Promise<AsyncGenerator<XipuEvent>> {
    const { stream, controller } = await _withRetries('completions', options, (settings, signal, sent) => _startCompletion(settings, payload, signal, sent, options.signal))
    const close = () => {
      controller.abort()
      stream.destroy()
    }
    return closeOnReturn(readEvents(stream, close, deps.settings().idleTimeoutMs, options.signal, options.onRaw), close)
  }

  /**
   * One attempt at a completion, with a controller of its own. Until the
   * platform starts answering, the call's signal (its timeout included) may
   * abort it; after that only the client's signal (or the idle timeout).
   */
  async function _startCompletion(settings: Settings, payload: CompletionPayload, callSignal: AbortSignal, sent: () => void, clientSignal: AbortSignal | undefined): Promise<{ stream: Readable; controller: AbortController }> {
    const controller = new AbortController()
    const abort = () => controller.abort()
    callSignal.addEventListener('abort', abort, { once: true })
    try {
      const response = await postStream(
        `${settings.apiBase}/completions?sf_request_type=fetch`,
        // Uncompressed: no gateway buffering a compressed stream, no inflater per stream.
        { ..._headers(settings), accept: 'text/event-stream', 'accept-encoding': 'identity' },
        _completionBody(payload, settings.lang),
        controller.signal,
        sent,
      )
      await _refuseNonStream(response)
      clientSignal?.addEventListener('abort', abort, { once: true })
      if (clientSignal?.aborted) abort()
      return { stream: response, controller }
    } catch (error) {
      abort()
      throw error
    } finally {
      callSignal.removeEventListener('abort', abort)
    }
  }

  /** Throws for a completion reply that is not a stream: a redirect to the login page, an HTTP error, a JSON refusal. */
  async function _refuseNonStream(response: IncomingMessage): Promise<void> {
    const status = response.statusCode ?? 0
    if (status >= 300 && status < 400) {
      // The gateway sends an expired session to its login page instead of answering 403.
      throw new XipuError('E_TOKEN_EXPIRED', 'The gateway redirected completions to its login page: the session has expired. Run npx tsx auth.ts to log in again.', { upstreamStatus: status })
    }
    if (status < 200 || status >= 300) throw statusError('completions', status, await readJsonBody(response))
    if (/json/i.test(String(response.headers['content-type'] ?? ''))) {
      // A JSON reply instead of a stream is a refusal (unknown session, bad input…).
      const data = (await readJsonBody(response)) ?? {}
      throw codeError('completions', isSuccessCode(data.code) ? { code: 'unexpected', msg: 'answered JSON instead of a stream' } : data)
    }
  }

  /**
   * Uploads one image: a multipart POST to `…/api/common/upload` (a sibling of
   * the chat API base) with `file`, `accept=image` and `lang`, as the web app's
   * Upload component sends it. It is a call like any other: paced, retried,
   * and its failures mapped the same way. The form is built again for each
   * attempt; node-fetch's encoder sets the multipart boundary.
   */
  async function uploadImage(file: UploadFile, options: CallOptions = {}): Promise<{ url: string }> {
    return _withRetries('upload', options, async (settings, signal) => {
      const form = new NodeFormData()
      form.append('accept', 'image')
      form.append('lang', settings.lang)
      form.append('file', new NodeBlob([file.data as Uint8Array<ArrayBuffer>], { type: file.type }), file.name)
      const { 'content-type': _json, ...headers } = _headers(settings)
      const response: FetchResponse<unknown> = await $fetch.raw(uploadUrl(settings.apiBase), {
        method: 'POST',
        query: { sf_request_type: 'ajax' },
        headers,
        body: form as unknown as BodyInit,
        signal,
        retry: 0,
        ignoreResponseError: true,
        responseType: 'json',
      })
      const data = _unwrap<{ url?: unknown; file_url?: unknown } | undefined>('upload', response, options)
      const url = [data?.url, data?.file_url].find((u): u is string => typeof u === 'string' && u !== '')
      if (!url) throw new XipuError('E_UPSTREAM', 'The platform accepted the upload but sent no URL (data.url or data.file_url).')
      return { url }
    })
  }

  return {
    openCompletion,
    uploadImage,
    /** The platform's model catalog (`GET config`). */
    async getCatalog(options?: CallOptions): Promise<CatalogModel[]> {
      const data = await _json<{ models?: unknown[] }>('config', 'GET', 'config', undefined, options)
      // A catalog in another shape reads as empty (the built-in list then), not as a network failure.
      return (Array.isArray(data?.models) ? data.models : []).map(_catalogModel).filter((m): m is CatalogModel => m !== undefined)
    },
    /** Every session of the account, the user's own web chats included. */
    async listSessions(options?: CallOptions): Promise<XipuSession[]> {
      const data = await _json<unknown[]>('session', 'GET', 'session', undefined, options)
      return (Array.isArray(data) ? data : []).filter((s): s is XipuSession => !!s && typeof s === 'object' && Number.isInteger(Number((s as XipuSession).id))).map((s) => ({ ...s, id: Number(s.id) }))
    },
    /** Creates a session, or updates session `id`; `contextCount` is what the reply says it holds, if it says. */
    async saveSession(fields: SessionFields & { id?: number }, options?: CallOptions): Promise<{ id: number; contextCount?: number }> {
      const data = await _json<{ id?: unknown; contextCount?: unknown }>('saveSession', 'POST', 'saveSession', { ...fields }, options)
      const id = Number(data?.id ?? fields.id)
      if (!Number.isInteger(id)) throw new XipuError('E_UPSTREAM', 'The platform created a session but did not say its id.')
      return { id, contextCount: contextCountOf(data) }
    },
    /** Deletes sessions by id; `ids` may be a function, read when the call's turn comes (see `_json`). */
    async deleteSessions(ids: number[] | (() => number[]), options?: CallOptions): Promise<void> {
      await _json('delSession', 'POST', 'delSession', () => ({ ids: typeof ids === 'function' ? ids() : ids }), options)
    },
  }
}

export type XipuClient = ReturnType<typeof createXipuClient>

/**
 * Where uploads go: `../common/upload` from the chat API base, as the protocol
 * document says (`…/api/chat` → `…/api/common/upload`).
 *
 * @example
 * uploadUrl('https://xipuai.xjtlu.edu.cn/jmapi/api/chat') // 'https://xipuai.xjtlu.edu.cn/jmapi/api/common/upload'
 */
export function uploadUrl(apiBase: string): string {
  return new URL('../common/upload', `${apiBase.replace(/\/+$/, '')}/`).href
}

/**
 * The `contextCount` a session (or a `saveSession` reply) says it holds: a
 * number, or a numeric string as the platform sometimes sends; else undefined.
 *
 * @example
 * contextCountOf({ contextCount: '0' }) // 0
 */
export function contextCountOf(session: unknown): number | undefined {
  const value = session && typeof session === 'object' ? (session as { contextCount?: unknown }).contextCount : undefined
  const n = typeof value === 'string' && value.trim() !== '' ? Number(value) : value
  return typeof n === 'number' && Number.isFinite(n) ? n : undefined
}

/** The body of a completions call, as the web client sends it. */
function _completionBody(payload: CompletionPayload, lang: string): Record<string, unknown> {
  return {
    text: payload.text,
    files: payload.files ?? [],
    sessionId: String(payload.sessionId),
    online: payload.online ? 1 : 0,
    ...(payload.thinking ? { thinking: payload.thinking } : {}),
    responseId: null,
    lang,
  }
}

function _catalogModel(entry: unknown): CatalogModel | undefined {
  if (typeof entry === 'string') return entry ? { id: entry, multimodal: false } : undefined
  if (!entry || typeof entry !== 'object') return undefined
  const e = entry as Record<string, unknown>
  const id = [e.value, e.model, e.name].find((v): v is string => typeof v === 'string' && v !== '')
  if (!id) return undefined
  return { id, label: typeof e.label === 'string' ? e.label : undefined, multimodal: e.multimodal === true || e.multimodal === 1 }
}

/** Waits `ms`; `E_ABORTED` as soon as `signal` aborts. */
function _sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return sleep(ms, undefined, { signal }).catch(() => {
    throw new XipuError('E_ABORTED', 'the client went away')
  })
}
