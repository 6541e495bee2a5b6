/**
 * What every streaming route shares: the SSE headers, a generator of frames
 * as a `ReadableStream` that stops the platform call when the client goes
 * away, and the one log line per request.
 */
import type { ConsolaInstance } from 'consola'

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
 * mid-stream is seen both by the cancel and by the aborted read).
 *
 * @example
 * const line = createRequestLine(log, 'POST /v1/responses', 'gpt-4.1 stream')
 * line.done('200', { sessionId, firstByteMs })
 */
export function createRequestLine(log: ConsolaInstance, route: string, tag: string) {
  const started = performance.now()
  let logged = false
  return {
    ms: () => Math.round(performance.now() - started),
    done(status: string, opened?: { sessionId: number; firstByteMs: number }): void {
      if (logged) return
      logged = true
      const total = Math.round(performance.now() - started)
      log.info(opened ? `${route} ${tag} → ${status} session ${opened.sessionId}, first byte ${opened.firstByteMs} ms, total ${total} ms` : `${route} ${tag} → ${status} in ${total} ms`)
    },
  }
}
