/**
 * `POST /v1/chat/completions` (and `/chat/completions`): the request becomes
 * the one internal request (lib/openai/request.ts), runs as a turn (tool
 * repair included, lib/chat/turn.ts), and the turn's deltas become one
 * completion or its chunks (lib/openai/response.ts).
 */
import type { H3, H3Event } from 'h3'
import { applyModelMap } from '../chat/model-map.ts'
import { openTurn, type Turn, type TurnEnd, type TurnEvent } from '../chat/turn.ts'
import { XipuError } from '../errors.ts'
import { toOpenAIError } from '../openai/errors.ts'
import { parseChatRequest, type OpenAIChatRequest } from '../openai/request.ts'
import { createChunk, createCompletion, createCompletionId, createUsageChunk, toWireDeltas, toWireFinish, type WireDelta } from '../openai/response.ts'
import { createRequestLine, SSE_HEADERS, toEventStream, type RequestLine } from './event-stream.ts'
import { readJsonBody } from './read-body.ts'
import type { SurfaceDeps } from './surface-deps.ts'

/**
 * @example
 * registerChatRoutes(app, deps) // serves /v1/chat/completions and /chat/completions
 */
export function registerChatRoutes(app: H3, deps: SurfaceDeps): void {
  // Some clients take the base URL without /v1; serve both.
  for (const prefix of ['/v1', '']) app.post(`${prefix}/chat/completions`, (event) => _handleCompletion(event, deps))
}

async function _handleCompletion(event: H3Event, deps: SurfaceDeps): Promise<Response> {
  const settings = deps.settings()
  if (deps.isShuttingDown?.()) throw new XipuError('E_SHUTTING_DOWN', 'The adapter is shutting down: retry in a moment.', { retryAfter: 5 })
  const request = applyModelMap(parseChatRequest(await readJsonBody(event, settings.bodyLimit)), settings.modelMap)
  const line = createRequestLine(deps, 'POST /v1/chat/completions', 'chat.completions', request)

  let turn: Turn
  try {
    turn = await openTurn({ chat: deps.chat, repairRetries: settings.repairRetries, log: deps.log }, request, event.req.signal)
  } catch (error) {
    line.failed(toOpenAIError(error).status, error)
    throw error
  }
  line.opened(turn.sessionId)
  const reply = { id: createCompletionId(), created: Math.floor(Date.now() / 1000) }
  if (!request.stream) return _answerWhole(request, turn.events, line, reply)
  return new Response(_streamBody(request, turn.events, line, reply), { headers: SSE_HEADERS })
}

/** Without streaming: the whole turn read, then one completion object. */
async function _answerWhole(request: OpenAIChatRequest, events: AsyncGenerator<TurnEvent>, line: RequestLine, reply: { id: string; created: number }): Promise<Response> {
  let end: TurnEnd | undefined
  try {
    for await (const turnEvent of events) {
      line.sawToken()
      if (turnEvent.kind === 'end') end = turnEvent
    }
  } catch (error) {
    line.failed(toOpenAIError(error).status, error)
    throw error
  }
  const { finishReason, usage, answer, attempts } = end!
  line.answered(answer)
  line.done('200', { attempts })
  return Response.json(createCompletion(reply.id, reply.created, request.model, answer, finishReason, usage, request.legacyFunctions))
}

function _sse(data: unknown): string {
  return `data: ${typeof data === 'string' ? data : JSON.stringify(data)}\n\n`
}

/** Streaming: the turn's deltas as chunks; a failure after the first byte travels as an error event, without [DONE]. */
function _streamBody(request: OpenAIChatRequest, events: AsyncGenerator<TurnEvent>, line: RequestLine, reply: { id: string; created: number }): ReadableStream<Uint8Array> {
  const chunk = (delta: WireDelta, finish: Parameters<typeof createChunk>[4] = null) => _sse(createChunk(reply.id, reply.created, request.model, delta, finish))

  async function* frames(): AsyncGenerator<string> {
    yield chunk({ role: 'assistant', content: '' })
    let end: TurnEnd | undefined
    try {
      for await (const turnEvent of events) {
        if (turnEvent.kind === 'end') {
          end = turnEvent
          continue
        }
        line.sawToken()
        for (const delta of toWireDeltas(turnEvent.delta, request.legacyFunctions)) yield chunk(delta)
      }
    } catch (error) {
      line.failed('error after first byte', error)
      yield _sse(toOpenAIError(error).body)
      return
    }
    const { finishReason, usage, answer, attempts } = end!
    yield chunk({}, toWireFinish(finishReason, request.legacyFunctions))
    if (request.includeUsage) yield _sse(createUsageChunk(reply.id, reply.created, request.model, usage))
    yield _sse('[DONE]')
    line.answered(answer)
    line.done('200', { attempts })
  }

  return toEventStream(frames(), async () => {
    // The client went away: closing the generators aborts the platform call and releases the session.
    line.done('client disconnected')
    await events.return(undefined)
  })
}
