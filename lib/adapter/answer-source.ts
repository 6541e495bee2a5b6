/**
 * One answer for the API surfaces that are translations (/v1/responses,
 * /v1/messages): the turn of lib/chat/turn.ts (platform call, tool calls and
 * structured output, the repair), as neutral deltas, then one `end` with the
 * finish reason, the usage and the whole answer. The surfaces only reshape
 * these; nothing here knows a wire shape.
 */
import { openTurn, type TurnAnswer, type TurnEvent } from '../chat/turn.ts'
import type { ChatRequest } from '../neutral.ts'
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
