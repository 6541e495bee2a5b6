/**
 * The neutral request and answer: the one internal request every API surface
 * turns its own request into (chat completions, responses, messages), and the
 * deltas the answer comes back as, which each surface turns into its own
 * events. Nothing here knows an API's wire shape. It sits below both the chat
 * pipeline (lib/chat/) and the tool layer (lib/tools/), which share these terms.
 */
import type { ImageInput } from './images/input.ts'
import type { SessionParams } from './sessions/manager.ts'

/** A function the model may call, in neutral terms. */
export interface ToolSpec {
  /** `^[a-zA-Z0-9_-]{1,64}$`, as OpenAI allows. */
  name: string
  description?: string
  /** JSON Schema of the arguments object (`{type:'object'}` when the client gave none). */
  parameters: Record<string, unknown>
  /** The client asked for strict schema adherence (arguments are validated either way). */
  strict?: boolean
}

/** Whether and which tools the model must call: `none` leaves the tools out of the prompt. */
export type ToolChoice = 'auto' | 'none' | 'required' | { name: string }

/** Structured output: the answer's content is one JSON value (validated against `schema` when given). */
export type ResponseFormat =
  | { type: 'json_object' }
  | { type: 'json_schema'; name: string; description?: string; schema: Record<string, unknown>; strict?: boolean }

/**
 * A conversation message in neutral terms, as the surfaces hand it to the
 * prompt renderer (lib/tools/history.ts). `source` names where it came from
 * (e.g. `messages[3]`) so that a 400 can point at it.
 */
export interface ChatMessage {
  role: 'system' | 'user' | 'assistant' | 'tool'
  text: string
  /** The calls an assistant message made; `arguments` as the client sent them (a JSON string or an object). */
  toolCalls?: Array<{ id: string; name: string; arguments: unknown }>
  /** The call a tool message answers. */
  toolCallId?: string
  /** The tool a tool message answers (legacy `function` messages name it instead of an id). */
  toolName?: string
  source?: string
}

/** A validated request, in the terms the pipeline works with. */
export interface ChatRequest extends SessionParams {
  /** The model id as the client asked (shown back in responses). */
  model: string
  stream: boolean
  includeUsage: boolean
  stop: string[]
  online: boolean
  thinking?: string
  /** The whole conversation as one prompt (tool and format instructions included); image n is marked where it was as `[Image n]` (lib/images/input.ts). */
  prompt: string
  /** The conversation's images in order (the prompt's `[Image 1]` is the first); none when absent. */
  images?: ImageInput[]
  messageCount: number
  /** The tools the client gave (absent when none); `offeredTools()` (lib/tools/prompt.ts) says which the prompt offers. */
  tools?: ToolSpec[]
  /** How the tools must be used (default `auto`). */
  toolChoice?: ToolChoice
  /** `false`: at most one call per answer (default true). */
  parallelToolCalls?: boolean
  /** Structured output asked for. */
  responseFormat?: ResponseFormat
}

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

export type FinishReason = 'stop' | 'length' | 'tool_calls' | 'content_filter'
