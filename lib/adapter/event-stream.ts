/**
 * What every streaming route shares: the SSE headers, a generator of frames
 * as a `ReadableStream` that stops the platform call when the client goes
 * away, and the one log line per request.
 */
import type { TurnAnswer } from '../chat/turn.ts'
import { escapeLogField } from '../log.ts'
import type { ChatRequest } from '../neutral.ts'
import { maskSessionId } from '../status/recorder.ts'
import type { SurfaceDeps } from './surface-deps.ts'

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

/** How a request ended, besides its status: why it failed, and how many answers a tool or schema repair took. */
export interface RequestLineEnd {
  /** The reason (a platform message is escaped: it comes from outside). */
  error?: string
  /** Answers the turn took (more than one after a repair). */
  attempts?: number
}

/**
 * One log line per request, whichever way it ends (a client that leaves
 * mid-stream is seen both by the cancel and by the aborted read), and one
 * row in the status page's list of the last requests. With XIPU_LOG_PROMPTS
 * on, the prompt is logged as the line starts and the answer by `answered`.
 * Before `opened` the line reads `→ 400 in 3 ms (why)`; after it, with the
 * session and the first byte: `→ 200 session 12, first byte 820 ms, total 2100 ms`.
 *
 * @example
 * const line = createRequestLine(deps, 'POST /v1/responses', 'responses', request)
 * line.opened(sessionId)
 * line.done('200')
 */
export function createRequestLine(deps: Pick<SurfaceDeps, 'log' | 'status' | 'settings'>, route: string, api: string, request: ChatRequest) {
  const started = performance.now()
  const arrivedAt = Date.now()
  const elapsed = () => Math.round(performance.now() - started)
  const tag = _describeRequest(request)
  const prompt = deps.settings().logPrompts ? request.prompt : undefined
  if (prompt !== undefined) deps.log.info(`Prompt (${request.model}):\n${prompt}`)
  let session: { id: number; firstByteMs: number } | undefined
  let firstTokenMs: number | undefined
  let logged = false
  const line = {
    /** The platform answered: the line names the session and the time to this first byte. */
    opened(sessionId: number): void {
      session ??= { id: sessionId, firstByteMs: elapsed() }
    },
    /** The first token (the first call wins); the status page shows the first byte when none was marked. */
    sawToken(): void {
      firstTokenMs ??= elapsed()
    },
    done(status: string, end: RequestLineEnd = {}): void {
      if (logged) return
      logged = true
      const total = elapsed()
      // The model name and the platform's message come from outside: one line, whatever they hold.
      const head = `${route} ${escapeLogField(tag)} → ${escapeLogField(status)}${end.error ? ` (${escapeLogField(end.error)})` : ''}`
      const repairs = (end.attempts ?? 1) > 1 ? `, ${end.attempts! - 1} repair(s)` : ''
      deps.log.info(session ? `${head} session ${session.id}, first byte ${session.firstByteMs} ms, total ${total} ms${repairs}` : `${head} in ${total} ms`)
      deps.status?.record({ at: arrivedAt, api, model: request.model, stream: request.stream, status, firstTokenMs: firstTokenMs ?? session?.firstByteMs, durationMs: total, session: maskSessionId(session?.id), error: end.error, prompt })
    },
    /** With XIPU_LOG_PROMPTS on, logs the answer as accepted, tool calls included. */
    answered(answer: TurnAnswer): void {
      if (prompt === undefined) return
      deps.log.info(`Answer: ${answer.content}${answer.toolCalls.map((c) => ` [call ${c.name} ${c.arguments}]`).join('')}`)
    },
    /** Ends the line with a failure: `status` (the HTTP status the error maps to, or what happened), and the error's message as the reason. */
    failed(status: number | string, error: unknown): void {
      line.done(String(status), { error: error instanceof Error ? error.message : String(error) })
    },
  }
  return line
}

/**
 * What a request line says about the request: its model and the options
 * that change how it is answered, as in `gpt-4.1 stream tools 2 json_schema`.
 */
function _describeRequest(request: Pick<ChatRequest, 'model' | 'stream' | 'tools' | 'responseFormat' | 'images'>): string {
  const parts = [request.model]
  if (request.stream) parts.push('stream')
  if (request.tools?.length) parts.push(`tools ${request.tools.length}`)
  if (request.responseFormat) parts.push(request.responseFormat.type)
  if (request.images?.length) parts.push(`images ${request.images.length}`)
  return parts.join(' ')
}

/** A request's one log line (and status-page record), as `createRequestLine` makes it. */
export type RequestLine = ReturnType<typeof createRequestLine>
