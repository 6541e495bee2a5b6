/**
 * A conversation with tool calls, checked and written into the one prompt:
 * an assistant's earlier calls go back in the same `<tool_call>` envelope the
 * model is asked to write, and each tool result becomes a `<tool_response>`
 * block that names the call and the tool. The platform keeps no history of
 * ours (fresh sessions), so the whole conversation travels as text.
 */
import type { ChatMessage } from '../neutral.ts'
import { XipuError } from '../errors.ts'
import { parseLooseJson } from './parse.ts'

const _ROLE_LABEL: Record<ChatMessage['role'], string> = { system: 'System', user: 'User', assistant: 'Assistant', tool: 'Tool' }

/**
 * How an API surface names the parts of a tool conversation, so that a 400
 * speaks the client's terms: chat completions' "tool message", the Messages
 * API's "tool_result block", the Responses API's "function_call_output item".
 */
export interface ConversationTerms {
  /** What carries a call's result. */
  result: string
  /** The field of a result that names its call. */
  resultId: string
  /** What a result must follow. */
  callsMessage: string
  /** How to send the missing results. */
  sendResults: string
}

/** Chat completions' terms (the default). */
export const CHAT_TERMS: ConversationTerms = {
  result: 'tool message',
  resultId: 'tool_call_id',
  callsMessage: 'an assistant message with tool_calls',
  sendResults: "send each result as a 'tool' message after it",
}

/** A checked message: calls with their arguments as objects, tool results with their tool's name. */
export interface CheckedMessage extends ChatMessage {
  toolCalls?: Array<{ id: string; name: string; arguments: Record<string, unknown> }>
}

function _bad(message: ChatMessage, index: number, text: string): XipuError {
  const param = message.source ?? `messages[${index}]`
  return new XipuError('E_BAD_REQUEST', `Invalid conversation at '${param}': ${text}`, { param })
}

function _arguments(message: ChatMessage, index: number, call: { id: string; name: string; arguments: unknown }): Record<string, unknown> {
  let value = call.arguments
  if (typeof value === 'string') {
    const text: string = value
    if (text.trim() === '') return {}
    try {
      value = JSON.parse(text) as unknown
    } catch {
      // Clients echo back what they were given; our own arguments are always valid JSON.
      const loose = parseLooseJson(text)
      if (!loose.ok) throw _bad(message, index, `the arguments of tool call '${call.id}' (${call.name}) are not valid JSON.`)
      value = loose.value.value
    }
  }
  if (value === undefined || value === null) return {}
  if (typeof value !== 'object' || Array.isArray(value)) throw _bad(message, index, `the arguments of tool call '${call.id}' (${call.name}) must be a JSON object.`)
  return value as Record<string, unknown>
}

/**
 * Checks that the tool calls and results of a conversation fit together:
 * every call is answered (by id, or by name for legacy `function` messages)
 * before the conversation goes on, every result answers a call, arguments are
 * JSON objects. Throws `E_BAD_REQUEST` naming the message, in `terms`.
 *
 * @example
 * checkConversation([{ role: 'user', text: 'Hi' }])
 */
export function checkConversation(messages: ChatMessage[], terms: ConversationTerms = CHAT_TERMS): CheckedMessage[] {
  let pending: Array<{ id: string; name: string }> = []
  let pendingFrom = -1
  const seen = new Set<string>()
  const out: CheckedMessage[] = []
  const unanswered = () => pending.map((c) => `'${c.id}' (${c.name})`).join(', ')

  messages.forEach((message, index) => {
    if (message.role === 'tool') {
      const at = message.toolCallId !== undefined ? pending.findIndex((c) => c.id === message.toolCallId) : pending.findIndex((c) => c.name === message.toolName)
      if (at === -1) {
        const what = message.toolCallId !== undefined ? `${terms.resultId} '${message.toolCallId}'` : `the function '${message.toolName ?? ''}'`
        const open = pending.length > 0 ? `; the calls waiting for a result are ${unanswered()}` : `; it must follow ${terms.callsMessage}`
        throw _bad(message, index, `this ${terms.result} answers ${what}, which no earlier tool call is waiting for${open}.`)
      }
      const [call] = pending.splice(at, 1)
      out.push({ ...message, toolCalls: undefined, toolCallId: call!.id, toolName: call!.name })
      return
    }
    if (pending.length > 0) {
      const from = messages[pendingFrom]!.source ?? `messages[${pendingFrom}]`
      throw _bad(message, index, `the tool calls ${unanswered()} of '${from}' have no ${terms.result} with their result before this message.`)
    }
    if (message.role !== 'assistant' || !message.toolCalls || message.toolCalls.length === 0) {
      out.push({ ...message, toolCalls: undefined })
      return
    }
    const calls = message.toolCalls.map((call) => {
      if (seen.has(call.id)) throw _bad(message, index, `the tool call id '${call.id}' is used twice in the conversation.`)
      seen.add(call.id)
      return { id: call.id, name: call.name, arguments: _arguments(message, index, call) }
    })
    pending = calls.map((c) => ({ id: c.id, name: c.name }))
    pendingFrom = index
    out.push({ ...message, toolCalls: calls })
  })
  if (pending.length > 0) {
    const last = messages[pendingFrom]!
    throw _bad(last, pendingFrom, `the tool calls ${unanswered()} have no ${terms.result} with their result; ${terms.sendResults}.`)
  }
  return out
}

/** One call in the envelope the model is asked to write (lib/tools/prompt.ts). */
export function renderToolCall(call: { name: string; arguments: Record<string, unknown> }): string {
  return `<tool_call>\n${JSON.stringify({ name: call.name, arguments: call.arguments })}\n</tool_call>`
}

function _render(message: CheckedMessage): string {
  if (message.role === 'tool') {
    const id = message.toolCallId ? ` id="${message.toolCallId}"` : ''
    return `<tool_response${id} name="${message.toolName ?? ''}">\n${message.text}\n</tool_response>`
  }
  const calls = (message.toolCalls ?? []).map(renderToolCall)
  return [message.text, ...calls].filter((part) => part.trim() !== '').join('\n')
}

/**
 * Writes a checked conversation as one prompt: each message as `Role:` and
 * its text, a blank line between, empty messages left out.
 *
 * @example
 * renderConversation([{ role: 'user', text: 'Hi' }]) // 'User:\nHi'
 */
export function renderConversation(messages: CheckedMessage[]): string {
  return messages
    .map((m) => ({ role: _ROLE_LABEL[m.role], text: _render(m) }))
    .filter((m) => m.text.trim() !== '')
    .map((m) => `${m.role}:\n${m.text}`)
    .join('\n\n')
}
