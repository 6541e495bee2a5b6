/**
 * The chat completions wire shapes: stream chunks (`chat.completion.chunk`),
 * the non-streaming `chat.completion`, and the usage chunk, built from what
 * lib/chat/ made of the platform's events. Tool calls go out as OpenAI's
 * `tool_calls` (or the legacy `function_call` for requests that used
 * `functions`).
 */
import { randomBytes } from 'node:crypto'
import type { Delta, FinishReason, ToolCall, Usage } from '../neutral.ts'

/** A fresh OpenAI-style completion id. */
export function createCompletionId(): string {
  return `chatcmpl-${randomBytes(12).toString('base64url')}`
}

type WireFinish = FinishReason | 'function_call'

/** OpenAI's `delta` object: what the SDKs read. */
export type WireDelta = Omit<Delta, 'toolCall'> & {
  tool_calls?: Array<{ index: number; id?: string; type?: 'function'; function: { name?: string; arguments: string } }>
  function_call?: { name?: string; arguments: string }
}

/**
 * The wire deltas for one neutral delta. A tool call becomes two, as OpenAI
 * streams them: index, id and name first, then the arguments.
 *
 * @example
 * toWireDeltas({ toolCall: { index: 0, id: 'call_1', name: 'f', arguments: '{}' } }, false)
 */
export function toWireDeltas(delta: Delta, legacyFunctions: boolean): WireDelta[] {
  const { toolCall, ...rest } = delta
  if (!toolCall) return [rest]
  if (legacyFunctions) return [{ function_call: { name: toolCall.name, arguments: '' } }, { function_call: { arguments: toolCall.arguments } }]
  return [
    { tool_calls: [{ index: toolCall.index, id: toolCall.id, type: 'function', function: { name: toolCall.name, arguments: '' } }] },
    { tool_calls: [{ index: toolCall.index, function: { arguments: toolCall.arguments } }] },
  ]
}

/** The finish reason as the wire says it: `function_call` for legacy requests that called one. */
export function toWireFinish(finishReason: FinishReason, legacyFunctions: boolean): WireFinish {
  return finishReason === 'tool_calls' && legacyFunctions ? 'function_call' : finishReason
}

/** One `chat.completion.chunk`. */
export function createChunk(id: string, created: number, model: string, delta: WireDelta, finishReason: WireFinish | null = null) {
  return {
    id,
    object: 'chat.completion.chunk' as const,
    created,
    model,
    system_fingerprint: null,
    choices: [{ index: 0, delta, logprobs: null, finish_reason: finishReason }],
  }
}

/** The usage chunk of `stream_options.include_usage`: empty `choices`. */
export function createUsageChunk(id: string, created: number, model: string, usage: Usage) {
  return { id, object: 'chat.completion.chunk' as const, created, model, system_fingerprint: null, choices: [], usage }
}

function _callsOf(toolCalls: ToolCall[] | undefined, legacyFunctions: boolean) {
  if (!toolCalls || toolCalls.length === 0) return {}
  if (legacyFunctions) return { function_call: { name: toolCalls[0]!.name, arguments: toolCalls[0]!.arguments } }
  return { tool_calls: toolCalls.map((c) => ({ id: c.id, type: 'function' as const, function: { name: c.name, arguments: c.arguments } })) }
}

/** A whole non-streaming `chat.completion`. With tool calls, `content` is the prose before them, or null. */
export function createCompletion(
  id: string,
  created: number,
  model: string,
  answer: { content: string; reasoning: string; toolCalls?: ToolCall[] },
  finishReason: FinishReason,
  usage: Usage,
  legacyFunctions = false,
) {
  const calls = _callsOf(answer.toolCalls, legacyFunctions)
  const content = answer.toolCalls?.length && answer.content === '' ? null : answer.content
  return {
    id,
    object: 'chat.completion' as const,
    created,
    model,
    system_fingerprint: null,
    choices: [
      {
        index: 0,
        message: { role: 'assistant' as const, content, refusal: null, ...calls, ...(answer.reasoning ? { reasoning_content: answer.reasoning } : {}) },
        logprobs: null,
        finish_reason: toWireFinish(finishReason, legacyFunctions),
      },
    ],
    usage,
  }
}
