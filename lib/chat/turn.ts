/**
 * One turn of a chat, for every API surface: the platform call, the answer
 * shaped for tools and structured output (lib/tools/), and the repair: an
 * answer that fails its checks is asked for again, within the same request,
 * with the reason added to the prompt (one more paced call per retry). When
 * it still fails, the turn ends with `E_INVALID_OUTPUT` (502), never with an
 * answer that breaks what the client asked for.
 *
 * Streaming: what went out stays out. Prose streams as it comes; a repair
 * then adds only the calls not already emitted (its own prose is dropped).
 * Without streaming, the accepted answer is the repaired one as a whole.
 */
import type { ConsolaInstance } from 'consola'
import { closeOnReturn } from '../close-on-return.ts'
import { XipuError } from '../errors.ts'
import type { ChatRequest, Delta, FinishReason, ToolCall, Usage } from '../neutral.ts'
import { renderRepairNote } from '../tools/prompt.ts'
import { createAnswerShaper, needsShaping } from '../tools/shaper.ts'
import { createAnswerMapper } from './answer.ts'
import type { ChatPipeline, OpenedChat } from './pipeline.ts'

export interface TurnDeps {
  chat: ChatPipeline
  /** How many times a failed answer is asked for again (`XIPU_REPAIR_RETRIES`). */
  repairRetries: number
  log?: ConsolaInstance
}

/** The whole answer of a turn, as it stands at its end. */
export interface TurnAnswer {
  content: string
  reasoning: string
  toolCalls: ToolCall[]
}

export type TurnEvent =
  | { kind: 'delta'; delta: Delta }
  | { kind: 'end'; finishReason: FinishReason; usage: Usage; answer: TurnAnswer; attempts: number; stopSequence?: string }

/** A turn's last event: the finish reason, the usage and the whole answer as accepted. */
export type TurnEnd = Extract<TurnEvent, { kind: 'end' }>

export interface Turn {
  /** The session of the first platform call (for the request log). */
  sessionId: number
  /** Deltas as they may be relayed, then one `end`. Closing it early aborts the platform call. */
  events: AsyncGenerator<TurnEvent>
}

/**
 * Starts a turn; resolves once the platform has begun to answer, so that a
 * failure before the first byte can still get its own HTTP status.
 *
 * @example
 * const turn = await openTurn({ chat, repairRetries: 1 }, request, signal)
 * for await (const event of turn.events) if (event.kind === 'delta') send(event.delta)
 */
export async function openTurn(deps: TurnDeps, request: ChatRequest, signal?: AbortSignal): Promise<Turn> {
  const first = await deps.chat.open(request, signal)
  const current = { opened: first }
  // A turn closed before its first read must still end the platform call and release the session.
  const close = async () => void (await current.opened.events.return(undefined).catch(() => {}))
  return { sessionId: first.sessionId, events: closeOnReturn(_run(deps, request, current, signal), close) }
}

function _addUsage(a: Usage | undefined, b: Usage): Usage {
  if (!a) return b
  return { prompt_tokens: a.prompt_tokens + b.prompt_tokens, completion_tokens: a.completion_tokens + b.completion_tokens, total_tokens: a.total_tokens + b.total_tokens }
}

async function* _run(deps: TurnDeps, request: ChatRequest, current: { opened: OpenedChat }, signal?: AbortSignal): AsyncGenerator<TurnEvent> {
  // Live: deltas reach the client as they come, so a repair can only add to them.
  const live = request.stream
  let attemptRequest = request
  let usage: Usage | undefined
  const relayed: TurnAnswer = { content: '', reasoning: '', toolCalls: [] }

  for (let attempt = 0; ; attempt++) {
    const { answer, finished, shaped, mapper } = yield* _readAttempt(deps, request, attemptRequest, current.opened, live ? relayed : undefined)
    usage = _addUsage(usage, finished.usage)
    relayed.content += answer.content
    relayed.reasoning += answer.reasoning
    relayed.toolCalls.push(...answer.toolCalls)
    // The word filter answers the same prompt the same way: no repair, the client is told content_filter.
    if (!shaped?.problem || finished.finishReason === 'content_filter') {
      const final = live ? relayed : answer
      const finishReason: FinishReason = final.toolCalls.length > 0 ? 'tool_calls' : finished.finishReason
      yield { kind: 'end', finishReason, usage, answer: final, attempts: attempt + 1, stopSequence: mapper.stopSequence() }
      return
    }
    const problem = shaped.problem
    if (attempt >= deps.repairRetries) {
      const tries = attempt === 0 ? '' : ` (also after ${attempt} repair${attempt > 1 ? 's' : ''})`
      throw new XipuError('E_INVALID_OUTPUT', `The model's answer could not be used${tries}: ${problem}.`)
    }
    deps.log?.info(`Asking the model again (repair ${attempt + 1} of ${deps.repairRetries}): ${problem}`)
    attemptRequest = { ...request, prompt: request.prompt + renderRepairNote(request, mapper.text().content, problem) }
    current.opened = await deps.chat.open(attemptRequest, signal)
  }
}

/**
 * One platform answer, relayed as deltas (through the shaper when tools or a
 * format are in play); returns what it held and how it ended. `relayed` is
 * what earlier attempts already streamed to the client (live turns only).
 */
async function* _readAttempt(deps: TurnDeps, request: ChatRequest, attemptRequest: ChatRequest, opened: OpenedChat, relayed: TurnAnswer | undefined) {
  const mapper = createAnswerMapper(attemptRequest)
  const shaper = needsShaping(request) ? createAnswerShaper(request, relayed ? { relayProse: relayed.content === '', emitted: relayed.toolCalls } : {}) : undefined
  const answer: TurnAnswer = { content: '', reasoning: '', toolCalls: [] }
  const emit = function* (delta: Delta): Generator<TurnEvent> {
    if (delta.content !== undefined) answer.content += delta.content
    if (delta.reasoning_content !== undefined) answer.reasoning += delta.reasoning_content
    if (delta.toolCall) answer.toolCalls.push(delta.toolCall)
    yield { kind: 'delta', delta }
  }
  // The platform's deltas: content goes through the shaper when tools or a format are in play.
  const relay = function* (deltas: Delta[]): Generator<TurnEvent> {
    for (const delta of deltas) {
      if (delta.content !== undefined && shaper) for (const shaped of shaper.push(delta.content)) yield* emit(shaped)
      else yield* emit(delta)
    }
  }
  try {
    for await (const event of opened.events) {
      yield* relay(mapper.feed(event))
      if (mapper.isStopped()) break
    }
  } finally {
    // Also when the client left: ends the platform call and releases the session.
    await opened.events.return(undefined)
  }
  const finished = mapper.finish()
  yield* relay(finished.deltas)
  const shaped = shaper?.end()
  if (shaped) for (const delta of shaped.deltas) yield* emit(delta)
  if (shaped && shaped.dropped > 0) deps.log?.debug(`Left out ${shaped.dropped} tool call(s): parallel_tool_calls is false.`)
  return { answer, finished, shaped, mapper }
}
