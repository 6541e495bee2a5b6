/**
 * `POST /v1/responses` (OpenAI's Responses API, as Codex and the newer SDK
 * speak it), `GET` and `DELETE /v1/responses/:id`. The request becomes the
 * one internal request (lib/responses/request.ts), runs through the one
 * pipeline, and the neutral deltas become the response object or its typed
 * events (lib/responses/response.ts).
 */
import { getRouterParam, type H3, type H3Event } from 'h3'
import { applyModelMap } from '../chat/model-map.ts'
import { XipuError } from '../errors.ts'
import { toOpenAIError } from '../openai/errors.ts'
import { parseResponsesRequest, type InputItem } from '../responses/request.ts'
import { createResponseWriter, formatResponseEvent, type ResponseEvent } from '../responses/response.ts'
import { createResponseStore } from '../responses/store.ts'
import { createRequestLine, SSE_HEADERS, toEventStream, type RequestLine } from './event-stream.ts'
import { openAnswer, readWholeAnswer, type OpenedAnswer } from './answer-source.ts'
import { readJsonBody } from './read-body.ts'
import type { SurfaceDeps } from './surface-deps.ts'

/** What one `POST /v1/responses` carries from its answer's start to its end. */
interface ResponseTurn {
  opened: OpenedAnswer
  line: RequestLine
  writer: ReturnType<typeof createResponseWriter>
  log: SurfaceDeps['log']
  logPrompts: boolean
  /** Keeps the finished response for `previous_response_id` and `GET` (unless `store: false`). */
  keep: () => void
}

/** The answer as one response object (a request that does not stream). */
async function _wholeResponse(turn: ResponseTurn): Promise<Response> {
  const { line, writer } = turn
  const whole = await readWholeAnswer(turn.opened).catch((error: unknown) => {
    line.failed(toOpenAIError(error).status, error)
    throw error
  })
  for (const delta of whole.deltas) writer.delta(delta)
  writer.finish({ deltas: [], finishReason: whole.end.finishReason, usage: whole.end.usage })
  if (turn.logPrompts) turn.log.info(`Answer: ${whole.end.answer.content}`)
  turn.keep()
  line.done('200')
  return Response.json(writer.response())
}

/** The answer as the Responses API's typed events. */
function _streamResponse(turn: ResponseTurn): Response {
  const { events } = turn.opened
  return new Response(
    toEventStream(_responseFrames(turn), async () => {
      turn.line.done('client disconnected')
      await events.return(undefined)
    }),
    { headers: SSE_HEADERS },
  )
}

async function* _responseFrames(turn: ResponseTurn): AsyncGenerator<string> {
  const { line, writer } = turn
  const send = (list: ResponseEvent[]) => list.map(formatResponseEvent).join('')
  yield send(writer.start())
  try {
    for await (const answerEvent of turn.opened.events) {
      if (answerEvent.kind === 'delta') {
        const out = writer.delta(answerEvent.delta)
        if (out.length > 0) yield send(out)
        continue
      }
      yield send(writer.finish({ deltas: [], finishReason: answerEvent.finishReason, usage: answerEvent.usage }))
      if (turn.logPrompts) turn.log.info(`Answer: ${answerEvent.answer.content}`)
    }
  } catch (error) {
    // The stream has begun: the failure travels as `response.failed`.
    const { body } = toOpenAIError(error)
    line.failed('failed after first byte', error)
    yield send(writer.fail({ code: body.error.code ?? 'server_error', message: body.error.message }))
    return
  }
  turn.keep()
  line.done('200')
}

/**
 * @example
 * registerResponsesRoutes(app, deps) // serves /v1/responses and /responses
 */
export function registerResponsesRoutes(app: H3, deps: SurfaceDeps): void {
  const store = createResponseStore(() => deps.settings().responsesKeep)

  const create = async (event: H3Event): Promise<Response> => {
    const settings = deps.settings()
    if (deps.isShuttingDown?.()) throw new XipuError('E_SHUTTING_DOWN', 'The adapter is shutting down: retry in a moment.', { retryAfter: 5 })
    const raw = (await readJsonBody(event, settings.bodyLimit)) as Record<string, unknown>
    const previousId = raw && typeof raw === 'object' && typeof raw.previous_response_id === 'string' ? raw.previous_response_id : undefined
    const previous = previousId ? store.get(previousId).conversation : []
    const parsed = parseResponsesRequest(raw, previous)
    const request = applyModelMap(parsed.chat, settings.modelMap)
    const line = createRequestLine(deps, 'POST /v1/responses', 'responses', request)

    const opened = await openAnswer(deps, request, event.req.signal).catch((error: unknown) => {
      line.failed(toOpenAIError(error).status, error)
      throw error
    })
    const writer = createResponseWriter({ body: parsed.body, model: request.model })
    const keep = (): void => {
      if (parsed.body.store === false || settings.responsesKeep === 0) return
      const response = writer.response()
      const output = (response.output as InputItem[]).filter((item) => item.type !== 'reasoning')
      store.save({ response, conversation: [...previous, ...parsed.input, ...output] })
    }
    line.opened(opened.sessionId)
    const turn: ResponseTurn = { opened, line, writer, log: deps.log, logPrompts: settings.logPrompts, keep }
    return request.stream ? _streamResponse(turn) : _wholeResponse(turn)
  }

  const id = (event: H3Event) => decodeURIComponent(getRouterParam(event, 'id') ?? '')
  for (const prefix of ['/v1', '']) {
    app.post(`${prefix}/responses`, create)
    app.get(`${prefix}/responses/:id`, (event) => store.get(id(event), 'response_id').response)
    app.delete(`${prefix}/responses/:id`, (event) => {
      store.get(id(event), 'response_id')
      store.delete(id(event))
      return { id: id(event), object: 'response', deleted: true }
    })
  }
}
