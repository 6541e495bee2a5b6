/**
 * `POST /v1/messages` (Anthropic's Messages API, as Claude Code and every
 * tool on Anthropic's SDK speak it) and `POST /v1/messages/count_tokens`.
 * The request becomes the one internal request (lib/anthropic/request.ts),
 * runs through the one pipeline, and the neutral deltas become the message
 * or its events (lib/anthropic/reply.ts). Errors on these routes take
 * Anthropic's shape (lib/anthropic/errors.ts, chosen by path in app.ts).
 */
import type { H3, H3Event } from 'h3'
import { estimateTokens } from '../chat/answer.ts'
import { applyModelMap } from '../chat/model-map.ts'
import type { ChatRequest } from '../neutral.ts'
import { XipuError } from '../errors.ts'
import { toAnthropicError } from '../anthropic/errors.ts'
import { parseMessagesRequest } from '../anthropic/request.ts'
import { createMessageWriter, formatMessageEvent, type MessageEvent } from '../anthropic/reply.ts'
import { createRequestLine, SSE_HEADERS, toEventStream, type RequestLine } from './event-stream.ts'
import { openAnswer, readWholeAnswer, type AnswerEvent, type OpenedAnswer } from './answer-source.ts'
import { readJsonBody } from './read-body.ts'
import type { SurfaceDeps } from './surface-deps.ts'

// A stream waits this long for the platform before it starts with message_start and pings:
// failures before then (a full queue, a bad token) still get their own HTTP status.
const COMMIT_AFTER_MS = 1000
// While the platform is silent (a queue, a slow first byte, long thinking), a ping this often
// keeps proxies and clients from giving up on the connection, as Anthropic's own stream does.
const PING_EVERY_MS = 5000

/** Paths whose errors take Anthropic's shape. */
export function isMessagesPath(pathname: string): boolean {
  return /^(\/v1)?\/messages(\/|$)/.test(pathname)
}

const TIMEOUT = Symbol('timeout')
const PING = formatMessageEvent({ type: 'ping' })

/** `promise`, or `TIMEOUT` after `ms` (the timer is cleared either way). */
async function _within<T>(promise: Promise<T>, ms: number): Promise<T | typeof TIMEOUT> {
  let timer: NodeJS.Timeout | undefined
  try {
    return await Promise.race([promise, new Promise<typeof TIMEOUT>((resolve) => (timer = setTimeout(() => resolve(TIMEOUT), ms)))])
  } finally {
    clearTimeout(timer)
  }
}

/** Pings every `PING_EVERY_MS` while `pending` is unsettled; returns what it settled to. */
async function* _pingUntil<T>(pending: Promise<T>): AsyncGenerator<string, T> {
  for (;;) {
    const outcome = await _within(pending, PING_EVERY_MS)
    if (outcome !== TIMEOUT) return outcome
    yield PING
  }
}

function _send(events: MessageEvent[]): string {
  return events.map(formatMessageEvent).join('')
}

/** What one `POST /v1/messages` carries from its start to its answer. */
interface MessageTurn {
  line: RequestLine
  writer: ReturnType<typeof createMessageWriter>
  log: SurfaceDeps['log']
  logPrompts: boolean
  /** Logs the request line with the error's status and throws it. */
  failed: (error: unknown) => never
}

/** The answer as one message (a request that does not stream). */
async function _wholeMessage(turn: MessageTurn, opening: Promise<OpenedAnswer>): Promise<Response> {
  const { line, writer } = turn
  const opened = await opening.catch(turn.failed)
  line.opened(opened.sessionId)
  const whole = await readWholeAnswer(opened).catch((error: unknown) => {
    line.failed(toAnthropicError(error).status, error)
    throw error
  })
  for (const delta of whole.deltas) writer.delta(delta)
  writer.finish({ ...whole.end, deltas: [] })
  if (turn.logPrompts) turn.log.info(`Answer: ${whole.end.answer.content}`)
  line.done('200')
  return Response.json(writer.message())
}

/**
 * The answer as Anthropic's events. A quick failure still gets its HTTP
 * status; a long wait starts the stream and pings.
 */
async function _streamMessage(turn: MessageTurn, opening: Promise<OpenedAnswer>): Promise<Response> {
  const settled = opening.then(
    (opened) => ({ opened }),
    (error: unknown) => ({ error }),
  )
  const early = await _within(settled, COMMIT_AFTER_MS)
  if (early !== TIMEOUT && 'error' in early) turn.failed(early.error)
  const open: { events?: AsyncGenerator<AnswerEvent> } = {}
  return new Response(
    toEventStream(_messageFrames(turn, settled, open), async () => {
      turn.line.done('client disconnected')
      // The platform call may still be starting: end it once it has.
      void settled.then((outcome) => ('opened' in outcome ? outcome.opened.events.return(undefined) : undefined))
      await open.events?.return(undefined)
    }),
    { headers: SSE_HEADERS },
  )
}

/** The stream's frames: `message_start`, pings while the platform is silent, the answer's events. */
async function* _messageFrames(turn: MessageTurn, settled: Promise<{ opened: OpenedAnswer } | { error: unknown }>, open: { events?: AsyncGenerator<AnswerEvent> }): AsyncGenerator<string> {
  const { line, writer } = turn
  yield _send(writer.start()) + PING
  const outcome = yield* _pingUntil(settled)
  if ('error' in outcome) {
    line.failed('error while waiting', outcome.error)
    yield _send([{ type: 'error', error: toAnthropicError(outcome.error).body.error }])
    return
  }
  const events = (open.events = outcome.opened.events)
  line.opened(outcome.opened.sessionId)
  try {
    let next = events.next()
    for (;;) {
      const step = yield* _pingUntil(next)
      if (step.done) break
      next = events.next()
      const answerEvent = step.value
      if (answerEvent.kind === 'delta') {
        const out = writer.delta(answerEvent.delta)
        if (out.length > 0) yield _send(out)
      } else {
        yield _send(writer.finish({ ...answerEvent, deltas: [] }))
        if (turn.logPrompts) turn.log.info(`Answer: ${answerEvent.answer.content}`)
      }
    }
  } catch (error) {
    // The stream has begun: the failure travels as an `error` event, as Anthropic sends it.
    line.failed('error after first byte', error)
    yield _send([{ type: 'error', error: toAnthropicError(error).body.error }])
    return
  } finally {
    await events.return(undefined)
  }
  line.done('200')
}

/**
 * @example
 * registerMessagesRoutes(app, deps) // serves /v1/messages, /v1/messages/count_tokens and the same without /v1
 */
export function registerMessagesRoutes(app: H3, deps: SurfaceDeps): void {
  const parse = async (event: H3Event, forCount: boolean): Promise<ChatRequest> => {
    const settings = deps.settings()
    return applyModelMap(parseMessagesRequest(await readJsonBody(event, settings.bodyLimit), { forCount }), settings.modelMap)
  }

  const create = async (event: H3Event): Promise<Response> => {
    const { logPrompts } = deps.settings()
    if (deps.isShuttingDown?.()) throw new XipuError('E_SHUTTING_DOWN', 'The adapter is shutting down: retry in a moment.', { retryAfter: 5 })
    const request = await parse(event, false)
    const line = createRequestLine(deps, 'POST /v1/messages', 'messages', request)
    const failed = (error: unknown): never => {
      line.failed(toAnthropicError(error).status, error)
      throw error
    }
    const turn: MessageTurn = { line, writer: createMessageWriter({ model: request.model, inputTokens: estimateTokens(request.prompt) }), log: deps.log, logPrompts, failed }
    const opening = openAnswer(deps, request, event.req.signal)
    return request.stream ? _streamMessage(turn, opening) : _wholeMessage(turn, opening)
  }

  const countTokens = async (event: H3Event) => {
    const request = await parse(event, true)
    // The same estimate usage falls back on, over the same prompt the platform would be sent.
    return { input_tokens: estimateTokens(request.prompt) }
  }

  for (const prefix of ['/v1', '']) {
    app.post(`${prefix}/messages`, create)
    app.post(`${prefix}/messages/count_tokens`, countTokens)
  }
}
