/**
 * One answer for the API surfaces that are translations (/v1/responses,
 * /v1/messages): the turn of lib/chat/turn.ts (platform call, tool calls and
 * structured output, the repair), as neutral deltas, then one `end` with the
 * finish reason, the usage and the whole answer. The surfaces only reshape
 * these; nothing here knows a wire shape.
 */
import { openTurn, type TurnAnswer, type TurnEnd, type TurnEvent } from '../chat/turn.ts'
import type { ChatRequest, Delta } from '../neutral.ts'
import type { SurfaceDeps } from './surface-deps.ts'

export type WholeAnswer = TurnAnswer

export type AnswerEvent = TurnEvent

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
  return openTurn({ chat: deps.chat, repairRetries: deps.settings().repairRetries, log: deps.log }, request, signal)
}

/**
 * The answer of a request that does not stream, read to its `end`: the end
 * (finish reason, usage), and the answer as it was accepted (a repaired answer
 * replaces the first one) as the deltas a surface's writer takes.
 *
 * @example
 * const { end, deltas } = await readWholeAnswer(opened)
 * for (const delta of deltas) writer.delta(delta)
 */
export async function readWholeAnswer(opened: OpenedAnswer): Promise<{ end: TurnEnd; deltas: Delta[] }> {
  let end: TurnEnd | undefined
  for await (const event of opened.events) if (event.kind === 'end') end = event
  // A turn ends with its `end` or throws: never neither.
  const { answer } = end!
  const deltas: Delta[] = [{ reasoning_content: answer.reasoning }, { content: answer.content }, ...answer.toolCalls.map((toolCall) => ({ toolCall }))]
  return { end: end!, deltas }
}
