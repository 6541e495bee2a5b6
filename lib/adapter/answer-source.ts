/**
 * One answer for the API surfaces that are translations (/v1/responses,
 * /v1/messages): the platform call and the neutral deltas, then one `end`
 * with the finish reason, the usage and the whole answer. The surfaces only
 * reshape these; nothing here knows a wire shape.
 */
import { closeOnReturn } from '../close-on-return.ts'
import { createAnswerMapper, type Delta, type Usage } from '../chat/answer.ts'
import type { ChatRequest } from '../chat/request.ts'
import type { SurfaceDeps } from './surface-deps.ts'

export interface WholeAnswer {
  content: string
  reasoning: string
  toolCalls: Array<{ id: string; name: string; arguments: string }>
}

export type AnswerEvent =
  | { kind: 'delta'; delta: Delta }
  | { kind: 'end'; finishReason: string; usage: Usage; answer: WholeAnswer; stopSequence?: string }

export interface OpenedAnswer {
  sessionId: number
  /** Deltas as they may be relayed, then one `end`. Closing it early aborts the platform call. */
  events: AsyncGenerator<AnswerEvent>
}

/**
 * Starts the answer; resolves once the platform has begun to answer, so a
 * failure before the first byte can still get its own HTTP status.
 *
 * @example
 * const { events } = await openAnswer(deps, request, signal)
 * for await (const event of events) if (event.kind === 'delta') send(event.delta)
 */
export async function openAnswer(deps: SurfaceDeps, request: ChatRequest, signal?: AbortSignal): Promise<OpenedAnswer> {
  const opened = await deps.chat.open(request, signal)
  async function* run(): AsyncGenerator<AnswerEvent> {
    const mapper = createAnswerMapper(request)
    try {
      for await (const event of opened.events) {
        for (const delta of mapper.feed(event)) yield { kind: 'delta', delta }
        if (mapper.isStopped()) break
      }
    } finally {
      // Also when the client left: ends the platform call and releases the session.
      await opened.events.return(undefined)
    }
    const { deltas, finishReason, usage } = mapper.finish()
    for (const delta of deltas) yield { kind: 'delta', delta }
    yield { kind: 'end', finishReason, usage, answer: { ...mapper.text(), toolCalls: [] }, stopSequence: mapper.stopSequence() }
  }
  return { sessionId: opened.sessionId, events: closeOnReturn(run(), async () => void (await opened.events.return(undefined))) }
}
