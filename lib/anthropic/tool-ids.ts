/**
 * Tool call ids as Anthropic writes them (`toolu_…`). Inside, a call has one
 * id of OpenAI's kind (`call_…`, lib/tools/calls.ts), the id the prompt's
 * `<tool_response id="…">` carries. The Messages API shows the same random
 * part behind Anthropic's prefix and maps it back when the client returns it
 * on `tool_use` and `tool_result`, so a conversation reads the same to the
 * model whichever API it came through, and no table has to be kept.
 */

const _OURS = 'call_'
const _ANTHROPIC = 'toolu_'

/**
 * @example
 * toAnthropicToolId('call_abc123') // 'toolu_abc123'
 */
export function toAnthropicToolId(id: string): string {
  return id.startsWith(_OURS) ? `${_ANTHROPIC}${id.slice(_OURS.length)}` : id
}

/**
 * The internal id for an id a client sends back; ids of any other form
 * (another provider's history) pass through unchanged.
 *
 * @example
 * fromAnthropicToolId('toolu_abc123') // 'call_abc123'
 */
export function fromAnthropicToolId(id: string): string {
  return id.startsWith(_ANTHROPIC) ? `${_OURS}${id.slice(_ANTHROPIC.length)}` : id
}
