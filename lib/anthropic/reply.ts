/**
 * Anthropic's answer: the `message` object and the stream events that build
 * it (`message_start`, `content_block_start`/`_delta`/`_stop`,
 * `message_delta`, `message_stop`, `ping`, `error`). One writer makes both,
 * from the neutral deltas of lib/chat/answer.ts.
 */
import { createHash, randomBytes } from 'node:crypto'
import type { Delta, Usage } from '../neutral.ts'
import { toAnthropicToolId } from './tool-ids.ts'

export type MessageEvent = { type: string } & Record<string, unknown>
/** A neutral delta, with the whole tool call the tool layer may add to it. */
export type AnswerDelta = Delta & { toolCall?: { id: string; name: string; arguments: string } }
type ContentBlock = Record<string, unknown> & { type: string }

/** A fresh id with Anthropic's prefix. */
export function createMessageId(): string {
  return `msg_${randomBytes(12).toString('base64url')}`
}

/**
 * The signature of a thinking block. Anthropic's is opaque and checked by
 * Anthropic only; the platform checks nothing, so a digest of the thinking
 * is enough for clients that insist on one being there.
 */
function _signature(thinking: string): string {
  return `xipu-${createHash('sha256').update(thinking).digest('base64url')}`
}

/** The neutral finish reason as Anthropic's `stop_reason`. */
export function toStopReason(finishReason: string, stopSequence: string | undefined): string {
  if (stopSequence !== undefined) return 'stop_sequence'
  if (finishReason === 'length') return 'max_tokens'
  if (finishReason === 'tool_calls') return 'tool_use'
  if (finishReason === 'content_filter') return 'refusal'
  return 'end_turn'
}

/**
 * @example
 * const writer = createMessageWriter({ model: 'claude-sonnet-4-5', inputTokens: 12 })
 * send(writer.start())
 * for (const delta of mapper.feed(event)) send(writer.delta(delta))
 * send(writer.finish({ ...mapper.finish(), stopSequence: mapper.stopSequence() }))
 * writer.message() // the final `message` object
 */
export function createMessageWriter(meta: { model: string; inputTokens: number; id?: string }) {
  const content: ContentBlock[] = []
  let open: ContentBlock | undefined
  const message: Record<string, unknown> = {
    id: meta.id ?? createMessageId(),
    type: 'message',
    role: 'assistant',
    model: meta.model,
    content,
    stop_reason: null,
    stop_sequence: null,
    usage: { input_tokens: meta.inputTokens, output_tokens: 0 },
  }

  function _close(): MessageEvent[] {
    if (!open) return []
    const index = content.indexOf(open)
    const out: MessageEvent[] = []
    if (open.type === 'thinking') {
      open.signature = _signature(String(open.thinking))
      out.push({ type: 'content_block_delta', index, delta: { type: 'signature_delta', signature: open.signature } })
    }
    out.push({ type: 'content_block_stop', index })
    open = undefined
    return out
  }

  function _openBlock(type: 'thinking' | 'text'): MessageEvent[] {
    if (open?.type === type) return []
    const out = _close()
    open = type === 'thinking' ? { type, thinking: '', signature: '' } : { type, text: '' }
    content.push(open)
    out.push({ type: 'content_block_start', index: content.length - 1, content_block: { ...open } })
    return out
  }

  /** A whole tool call as a `tool_use` block: started with empty input, the input as one JSON delta, stopped. */
  function _toolUse(call: { id: string; name: string; arguments: string }): MessageEvent[] {
    const out = _close()
    let input: unknown = {}
    try {
      input = JSON.parse(call.arguments || '{}')
    } catch {
      // The tool layer hands over validated JSON; keep the block well-formed regardless.
    }
    const id = toAnthropicToolId(call.id)
    content.push({ type: 'tool_use', id, name: call.name, input })
    const index = content.length - 1
    out.push({ type: 'content_block_start', index, content_block: { type: 'tool_use', id, name: call.name, input: {} } })
    out.push({ type: 'content_block_delta', index, delta: { type: 'input_json_delta', partial_json: JSON.stringify(input) } })
    out.push({ type: 'content_block_stop', index })
    return out
  }

  function _delta(delta: AnswerDelta): MessageEvent[] {
    const out: MessageEvent[] = []
    if (delta.reasoning_content) {
      out.push(..._openBlock('thinking'))
      open!.thinking += delta.reasoning_content
      out.push({ type: 'content_block_delta', index: content.length - 1, delta: { type: 'thinking_delta', thinking: delta.reasoning_content } })
    }
    if (delta.content) {
      out.push(..._openBlock('text'))
      open!.text += delta.content
      out.push({ type: 'content_block_delta', index: content.length - 1, delta: { type: 'text_delta', text: delta.content } })
    }
    if (delta.toolCall) out.push(..._toolUse(delta.toolCall))
    return out
  }

  return {
    /** `message_start`, as Anthropic begins: the message with no content yet. */
    start(): MessageEvent[] {
      return [{ type: 'message_start', message: structuredClone(message) }]
    },
    delta: _delta,
    /** The last deltas, the open block's end, `message_delta` (stop reason, usage) and `message_stop`. */
    finish(end: { deltas: AnswerDelta[]; finishReason: string; usage: Usage; stopSequence?: string }): MessageEvent[] {
      const out = end.deltas.flatMap(_delta)
      // A reply always carries a text or tool_use block, even an empty text, as clients read content[…].
      if (!content.some((b) => b.type !== 'thinking')) out.push(..._openBlock('text'))
      out.push(..._close())
      message.stop_reason = toStopReason(end.finishReason, end.stopSequence)
      message.stop_sequence = end.stopSequence ?? null
      message.usage = { input_tokens: end.usage.prompt_tokens, output_tokens: end.usage.completion_tokens }
      out.push({ type: 'message_delta', delta: { stop_reason: message.stop_reason, stop_sequence: message.stop_sequence }, usage: structuredClone(message.usage) })
      out.push({ type: 'message_stop' })
      return out
    },
    /** The message object as it stands. */
    message: () => structuredClone(message),
  }
}

/**
 * One event on the wire: an `event:` line with its type and a `data:` line.
 *
 * @example
 * formatMessageEvent({ type: 'ping' }) // 'event: ping\ndata: {"type":"ping"}\n\n'
 */
export function formatMessageEvent(event: MessageEvent): string {
  return `event: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`
}
