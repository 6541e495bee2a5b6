/**
 * The completion call on the wire: a POST over node:http(s) that says when
 * it was written out, and the platform's SSE reply read as events, with the
 * rules for how a stream may end.
 */
import { request as httpRequest, type IncomingMessage } from 'node:http'
import { request as httpsRequest } from 'node:https'
import type { Readable } from 'node:stream'
import { createParser } from 'eventsource-parser'
import { isAbortError, isXipuError, XipuError } from '../errors.ts'
import { parseXipuEvent, type XipuEvent } from './events.ts'

/**
 * POSTs JSON over node:http(s) and resolves with the reply, whose body is read
 * as a stream. Completions take this path rather than fetch because the pacer
 * needs the moment the request was written out (`sent`): the reply only comes
 * with the model's first token. Redirects are not followed (see the caller).
 */
export function postStream(url: string, headers: Record<string, string>, body: unknown, signal: AbortSignal, sent: () => void): Promise<IncomingMessage> {
  const data = JSON.stringify(body)
  const send = url.startsWith('https:') ? httpsRequest : httpRequest
  return new Promise((resolve, reject) => {
    const req = send(url, { method: 'POST', headers: { ...headers, 'content-length': String(Buffer.byteLength(data)) }, signal }, resolve)
    req.once('finish', sent)
    req.once('error', reject)
    req.end(data)
  })
}

export async function readJsonBody(stream: Readable | undefined): Promise<{ code?: unknown; msg?: unknown } | undefined> {
  if (!stream) return undefined
  try {
    const chunks: Buffer[] = []
    for await (const chunk of stream) chunks.push(chunk as Buffer)
    return JSON.parse(Buffer.concat(chunks).toString('utf8')) as { code?: unknown; msg?: unknown }
  } catch {
    return undefined
  }
}

// After the result event nothing more is needed: a platform that keeps the
// connection open without [DONE] is let go after this much silence.
const AFTER_RESULT_GRACE_MS = 2000

/**
 * The platform's SSE as events. Plain Node stream reading, one idle timer per
 * stream and eventsource-parser's callback API keep the garbage per chunk low:
 * with 100 streams at once, web streams and a timer per read grew the heap.
 *
 * How a stream may end (the protocol document): `data: [DONE]` is optional.
 * The answer is complete once the `type: "object"` result event came, or
 * `[DONE]`, or both; a stream that ends or breaks with neither is truncated.
 * A stream that ends cleanly before any event at all is the word filter's
 * empty 200: it yields nothing, and lib/chat/answer.ts reports the filter.
 */
export async function* readEvents(body: Readable, close: () => void, idleTimeoutMs: number, clientSignal?: AbortSignal, onRaw?: (data: string) => void): AsyncGenerator<XipuEvent> {
  const received: string[] = []
  const parser = createParser({ onEvent: (event) => received.push(event.data) })
  // In streaming mode the decoder keeps a multibyte character that was cut between chunks whole.
  const decoder = new TextDecoder()
  // Silence counts only while waiting for the platform, not while the client is slow to read.
  let waiting = true
  const idle = setTimeout(function onIdle() {
    if (!waiting) return void idle.refresh()
    body.destroy(new XipuError('E_STREAM_STALLED', `The platform stream was silent for ${Math.round(idleTimeoutMs / 1000)} s (XIPU_IDLE_TIMEOUT_MS) and was ended.`))
  }, idleTimeoutMs)
  let sawDone = false
  let sawResult = false
  let sawData = false
  let grace: NodeJS.Timeout | undefined
  try {
    try {
      read: for await (const chunk of body) {
        waiting = false
        parser.feed(decoder.decode(chunk as Buffer, { stream: true }))
        for (let i = 0; i < received.length; i++) {
          onRaw?.(received[i]!)
          sawData = true
          if (received[i]!.trim() === '[DONE]') {
            sawDone = true
            break read
          }
          const event = parseXipuEvent(received[i]!)
          if (event?.kind === 'result') sawResult = true
          if (event) yield event
        }
        received.length = 0
        waiting = true
        idle.refresh()
        if (sawResult) grace = grace ? grace.refresh() : setTimeout(() => body.destroy(), Math.min(AFTER_RESULT_GRACE_MS, idleTimeoutMs))
      }
    } catch (error) {
      const failure = _readFailure(error, sawResult, clientSignal)
      if (failure) throw failure
      return
    }
    if (!sawDone && !sawResult && sawData) {
      throw new XipuError('E_STREAM_TRUNCATED', 'The platform stream ended without [DONE] and without its result event: the answer is incomplete.')
    }
  } finally {
    clearTimeout(idle)
    clearTimeout(grace)
    close()
  }
}

/** What a stream that broke while being read means: undefined when the whole answer was already in. */
function _readFailure(error: unknown, sawResult: boolean, clientSignal: AbortSignal | undefined): XipuError | undefined {
  if (clientSignal?.aborted || (isAbortError(error) && !isXipuError(error))) return new XipuError('E_ABORTED', 'completions: the client went away', { cause: error })
  // The whole answer is in: a connection that breaks or idles after it loses nothing. An error event still counts.
  if (sawResult && !isXipuError(error, 'E_UPSTREAM')) return undefined
  if (isXipuError(error)) return error
  return new XipuError('E_STREAM_TRUNCATED', `The platform stream broke off (${(error as Error).message}).`, { cause: error })
}
