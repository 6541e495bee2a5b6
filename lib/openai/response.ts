/**
 * The chat completions wire shapes: stream chunks (`chat.completion.chunk`),
 * the non-streaming `chat.completion`, and the usage chunk, built from what
 * lib/chat/answer.ts made of the platform's events.
 */
import { randomBytes } from 'node:crypto'
import type { Delta, FinishReason, Usage } from '../chat/answer.ts'

/** A fresh OpenAI-style completion id. */
export function createCompletionId(): string {
  return `chatcmpl-${randomBytes(12).toString('base64url')}`
}

/** One `chat.completion.chunk`. */
export function createChunk(id: string, created: number, model: string, delta: Delta, finishReason: FinishReason | null = null) {
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

/** A whole non-streaming `chat.completion`. */
export function createCompletion(id: string, created: number, model: string, answer: { content: string; reasoning: string }, finishReason: FinishReason, usage: Usage) {
  return {
    id,
    object: 'chat.completion' as const,
    created,
    model,
    system_fingerprint: null,
    choices: [
      {
        index: 0,
        message: { role: 'assistant' as const, content: answer.content, refusal: null, ...(answer.reasoning ? { reasoning_content: answer.reasoning } : {}) },
        logprobs: null,
        finish_reason: finishReason,
      },
    ],
    usage,
  }
}
