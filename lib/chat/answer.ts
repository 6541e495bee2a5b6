/**
 * The one place that reads the platform's answer for every API surface:
 * pieces become content deltas, reasoning pieces reasoning deltas; the final
 * result is used only for what did not stream; `stop` sequences cut the
 * relayed text; usage is counted (or estimated when the platform gives none).
 */
import type { XipuEvent } from '../xipu/events.ts'
import type { ChatRequest } from './request.ts'
import { createStopCutter } from './stop-cutter.ts'

export { createStopCutter }

/**
 * A tool call the model made, checked against the tools offered. `arguments`
 * is the JSON text of the arguments object; `id` is ours (`call_` + random).
 */
export interface ToolCall {
  /** 0, 1, … in the order the calls were made. */
  index: number
  id: string
  name: string
  arguments: string
}

export interface Delta {
  role?: 'assistant'
  content?: string
  reasoning_content?: string
  /** A whole, validated tool call (surfaces split it into their own events). */
  toolCall?: ToolCall
}

export interface Usage {
  prompt_tokens: number
  completion_tokens: number
  total_tokens: number
}

export type FinishReason = 'stop' | 'length' | 'tool_calls'

/** Rough token estimate for when the platform gives no counts. */
function _estimateTokens(text: string): number {
  return Math.ceil(text.length / 4)
}

/** The estimate usage falls back on, for surfaces that count without asking (e.g. /v1/messages/count_tokens). */
export const estimateTokens = _estimateTokens

/**
 * Turns the platform's events for one request into OpenAI deltas, and keeps
 * what the final chunk, the usage and a non-streaming reply need.
 *
 * @example
 * const mapper = createAnswerMapper(request)
 * for await (const event of events) for (const delta of mapper.feed(event)) send(delta)
 * const { finishReason, usage } = mapper.finish()
 */
export function createAnswerMapper(request: ChatRequest) {
  const cutter = createStopCutter(request.stop)
  let content = ''
  let reasoning = ''
  let streamedContent = false
  let streamedReasoning = false
  let stopped = false
  let stopSequence: string | undefined
  let result: Extract<XipuEvent, { kind: 'result' }> | undefined

  function _content(text: string): Delta[] {
    if (stopped) return []
    const cut = cutter.push(text)
    stopped = cut.stopped
    stopSequence = cut.sequence
    content += cut.text
    return cut.text ? [{ content: cut.text }] : []
  }

  return {
    /** Deltas to relay for one platform event. */
    feed(event: XipuEvent): Delta[] {
      if (event.kind === 'content') {
        streamedContent = true
        return _content(event.text)
      }
      if (event.kind === 'reasoning') {
        streamedReasoning = true
        reasoning += event.text
        return [{ reasoning_content: event.text }]
      }
      result = event
      const out: Delta[] = []
      // The result repeats the whole answer: use it only for what did not stream.
      if (!streamedReasoning && event.reason) {
        reasoning += event.reason
        out.push({ reasoning_content: event.reason })
      }
      if (!streamedContent && event.aiText) out.push(..._content(event.aiText))
      return out
    },
    /** Whether a stop sequence was hit (the caller stops reading the platform). */
    isStopped: () => stopped,
    /** The stop sequence that ended the answer, if one did (Anthropic's `stop_sequence`). */
    stopSequence: () => stopSequence,
    /** The last deltas, the finish reason and the usage, once the platform is done. */
    finish(): { deltas: Delta[]; finishReason: FinishReason; usage: Usage } {
      const rest = stopped ? '' : cutter.flush()
      content += rest
      const prompt = result?.promptTokens ?? _estimateTokens(request.prompt)
      const completion = result?.completionTokens ?? _estimateTokens(content) + _estimateTokens(reasoning)
      const finishReason: FinishReason = !stopped && request.maxTokens > 0 && completion >= request.maxTokens ? 'length' : 'stop'
      return {
        deltas: rest ? [{ content: rest }] : [],
        finishReason,
        usage: { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion },
      }
    },
    /** Everything relayed so far. */
    text: () => ({ content, reasoning }),
  }
}
