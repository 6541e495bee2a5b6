/**
 * What every streaming route shares: the SSE headers, a generator of frames
 * as a `ReadableStream` that stops the platform call when the client goes
 * away, and the one log line per request.
 */
import type { ConsolaInstance } from 'consola'
import { escapeLogField } from '../log.ts'
import { maskSessionId, type StatusRecorder } from '../status/recorder.ts'

/** What the status page's request list needs besides the log line (pass `deps.status` as `to`). */
export interface RequestLineRecord {
  to?: StatusRecorder
  /** The API surface: `responses`, `messages`, … */
  api: string
  model: string
  stream: boolean
  /** Only when XIPU_LOG_PROMPTS is on. */
  prompt?: string
}

export const SSE_HEADERS = { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive', 'x-accel-buffering': 'no' }

const encoder = new TextEncoder()

/**
 * Pulls `frames` one at a time; `cancel` runs when the client leaves mid-stream.
 *
 * @example
 * return new Response(toEventStream(frames(), () => events.return(undefined)), { headers: SSE_HEADERS })
 */
export function toEventStream(frames: AsyncGenerator<string>, cancel: () => Promise<unknown>): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const { value, done } = await frames.next()
      if (done) controller.close()
      else controller.enqueue(encoder.encode(value))
    },
    async cancel() {
      // Closing the generators aborts the platform call and releases the session.
      await cancel()
      await frames.return(undefined)
    },
  })
}

/**
 * One log line per request, whichever way it ends (a client that leaves
 * mid-stream is seen both by the cancel and by the aborted read), and one
 * row in the status page's list of the last requests when `record` is given.
 *
 * @example
 * const line = createRequestLine(log, 'POST /v1/responses', 'gpt-4.1 stream', { to: deps.status, api: 'responses', model, stream })
 * line.done('200', { sessionId, firstByteMs })
 */
export function createRequestLine(log: ConsolaInstance, route: string, tag: string, record?: RequestLineRecord) {
  const started = performance.now()
  const arrivedAt = Date.now()
  let logged = false
  return {
    ms: () => Math.round(performance.now() - started),
    done(status: string, opened?: { sessionId: number; firstByteMs: number }): void {
      if (logged) return
      logged = true
      const total = Math.round(performance.now() - started)
      // The model name and the platform's message come from outside: one line, whatever they hold.
      const [safeTag, safeStatus] = [escapeLogField(tag), escapeLogField(status)]
      log.info(opened ? `${route} ${safeTag} → ${safeStatus} session ${opened.sessionId}, first byte ${opened.firstByteMs} ms, total ${total} ms` : `${route} ${safeTag} → ${safeStatus} in ${total} ms`)
      if (!record?.to) return
      // `status` reads "502 (why)" or "client disconnected": the code and the reason apart.
      const [, code, why] = /^(\d{3}|[^(]+?)\s*(?:\((.*)\))?$/s.exec(status) ?? [status, status, undefined]
      record.to.record({ at: arrivedAt, api: record.api, model: record.model, stream: record.stream, status: code!.trim(), firstTokenMs: opened?.firstByteMs, durationMs: total, session: maskSessionId(opened?.sessionId), error: why, prompt: record.prompt })
    },
  }
}

/** A request's one log line (and status-page record), as `createRequestLine` makes it. */
export type RequestLine = ReturnType<typeof createRequestLine>
