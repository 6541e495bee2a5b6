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
import { createRequestLine, SSE_HEADERS, toEventStream } from './event-stream.ts'
import { openAnswer, type AnswerEvent, type OpenedAnswer } from './answer-source.ts'
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

/** `promise`, or `TIMEOUT` after `ms` (the timer is cleared either way). */
async function _within<T>(promise: Promise<T>, ms: number): Promise<T | typeof TIMEOUT> {
  let timer: NodeJS.Timeout | undefined
  try {
    return await Promise.race([promise, new Promise<typeof TIMEOUT>((resolve) => (timer = setTimeout(() => resolve(TIMEOUT), ms)))])
  } finally {
    clearTimeout(timer)
  }
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
    const settings = deps.settings()
    if (deps.isShuttingDown?.()) throw new XipuError('E_SHUTTING_DOWN', 'The adapter is shutting down: retry in a moment.', { retryAfter: 5 })
    const request = await parse(event, false)
    const line = createRequestLine(deps.log, 'POST /v1/messages', `${request.model}${request.stream ? ' stream' : ''}`, { to: deps.status, api: 'messages', model: request.model, stream: request.stream, prompt: deps.settings().logPrompts ? request.prompt : undefined })
    if (settings.logPrompts) deps.log.info(`Prompt (${request.model}):\n${request.prompt}`)
    const failed = (error: unknown): never => {
      line.done(`${toAnthropicError(error).status} (${(error as Error).message})`)
      throw error
    }
    const opening = openAnswer(deps, request, event.req.signal)
    const writer = createMessageWriter({ model: request.model, inputTokens: estimateTokens(request.prompt) })

    if (!request.stream) {
      const opened = await opening.catch(failed)
      const firstByte = { sessionId: opened.sessionId, firstByteMs: line.ms() }
      let end: Extract<AnswerEvent, { kind: 'end' }> | undefined
      try {
        for await (const answerEvent of opened.events) if (answerEvent.kind === 'end') end = answerEvent
      } catch (error) {
        line.done(String(toAnthropicError(error).status), firstByte)
        throw error
      }
      // The whole answer as it was accepted (a repaired answer replaces the first one).
      const { answer } = end!
      writer.delta({ reasoning_content: answer.reasoning })
      writer.delta({ content: answer.content })
      for (const toolCall of answer.toolCalls) writer.delta({ toolCall })
      writer.finish({ ...end!, deltas: [] })
      if (settings.logPrompts) deps.log.info(`Answer: ${answer.content}`)
      line.done('200', firstByte)
      return Response.json(writer.message())
    }

    // A quick failure still gets its HTTP status; a long wait starts the stream and pings.
    const settled = opening.then(
      (opened) => ({ opened }),
      (error: unknown) => ({ error }),
    )
    const early = await _within(settled, COMMIT_AFTER_MS)
    if (early !== TIMEOUT && 'error' in early) failed(early.error)
    let events: AsyncGenerator<AnswerEvent> | undefined

    async function* frames(): AsyncGenerator<string> {
      const send = (list: MessageEvent[]) => list.map(formatMessageEvent).join('')
      const ping = send([{ type: 'ping' }])
      yield send(writer.start()) + ping
      let opened: OpenedAnswer
      for (;;) {
        const outcome = early !== TIMEOUT ? early : await _within(settled, PING_EVERY_MS)
        if (outcome === TIMEOUT) {
          yield ping
          continue
        }
        if ('error' in outcome) {
          line.done(`error while waiting (${(outcome.error as Error).message})`)
          yield send([{ type: 'error', error: toAnthropicError(outcome.error).body.error }])
          return
        }
        opened = outcome.opened
        break
      }
      events = opened.events
      const firstByte = { sessionId: opened.sessionId, firstByteMs: line.ms() }
      try {
        let next = events.next()
        for (;;) {
          const step = await _within(next, PING_EVERY_MS)
          if (step === TIMEOUT) {
            yield ping
            continue
          }
          if (step.done) break
          next = events.next()
          const answerEvent = step.value
          if (answerEvent.kind === 'delta') {
            const out = writer.delta(answerEvent.delta)
            if (out.length > 0) yield send(out)
          } else {
            yield send(writer.finish({ ...answerEvent, deltas: [] }))
            if (settings.logPrompts) deps.log.info(`Answer: ${answerEvent.answer.content}`)
          }
        }
      } catch (error) {
        // The stream has begun: the failure travels as an `error` event, as Anthropic sends it.
        line.done(`error after first byte (${(error as Error).message})`, firstByte)
        yield send([{ type: 'error', error: toAnthropicError(error).body.error }])
        return
      } finally {
        await events.return(undefined)
      }
      line.done('200', firstByte)
    }

    return new Response(
      toEventStream(frames(), async () => {
        line.done('client disconnected')
        // The platform call may still be starting: end it once it has.
        void settled.then((outcome) => ('opened' in outcome ? outcome.opened.events.return(undefined) : undefined))
        await events?.return(undefined)
      }),
      { headers: SSE_HEADERS },
    )
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
