/**
 * The instructions that turn a chat model without function calling into one
 * with it: a system block that lists the tools with their schemas and asks for
 * the Hermes/Qwen `<tool_call>` envelope (the one current open models are
 * trained on), a closing block that asks for JSON only when a response format
 * is set, and the note that asks again after an answer failed its checks.
 */
import type { ChatMessage, ChatRequest, ResponseFormat, ToolChoice, ToolSpec } from '../neutral.ts'
import { checkConversation, renderConversation, type ConversationTerms } from './history.ts'

/** The first words of a repair note (the simulator's models look for them too). */
export const REPAIR_LEAD = 'Your previous answer was rejected'

/** The first words of the structured-output instruction. */
export const JSON_ONLY_LEAD = 'Answer with one JSON value only'

export interface PromptOptions {
  tools?: ToolSpec[]
  toolChoice?: ToolChoice
  parallelToolCalls?: boolean
  responseFormat?: ResponseFormat
  /** How the client's API names the parts of a tool conversation, for its errors (chat completions' by default). */
  terms?: ConversationTerms
}

/** The tools actually offered: none for `tool_choice: none`, only the named one when one is forced. */
export function offeredTools(options: PromptOptions): ToolSpec[] {
  const tools = options.tools ?? []
  const choice = options.toolChoice ?? 'auto'
  if (choice === 'none') return []
  if (typeof choice === 'object') return tools.filter((t) => t.name === choice.name)
  return tools
}

function _rules(options: PromptOptions): string[] {
  const choice = options.toolChoice ?? 'auto'
  const rules: string[] = []
  if (choice === 'required') rules.push('You must call at least one function in this answer.')
  else if (typeof choice === 'object') rules.push(`You must call the function "${choice.name}" in this answer.`)
  else rules.push('Call a function when it helps to answer; when none is needed, answer in plain text without any <tool_call> block.')
  if (options.parallelToolCalls === false) rules.push('Call at most one function in this answer.')
  else rules.push('To call several functions at once, write one <tool_call> block for each call.')
  rules.push('The arguments must be a JSON object that is valid against the function\'s "parameters" schema. Use only the functions listed above.')
  rules.push('You may write a short sentence before the calls. After the last </tool_call> stop: the results come back in <tool_response> blocks, and you answer from them.')
  return rules
}

/**
 * The system block that offers the tools (empty when none are offered).
 *
 * @example
 * renderToolsBlock({ tools: [{ name: 'get_weather', parameters: { type: 'object' } }] })
 */
export function renderToolsBlock(options: PromptOptions): string {
  const tools = offeredTools(options)
  if (tools.length === 0) return ''
  const signatures = tools.map((t) => JSON.stringify({ type: 'function', function: { name: t.name, ...(t.description ? { description: t.description } : {}), parameters: t.parameters } }))
  return [
    '# Tools',
    '',
    'You may call one or more functions to assist with the user query.',
    '',
    'You are provided with function signatures within <tools></tools> XML tags:',
    '<tools>',
    ...signatures,
    '</tools>',
    '',
    'For each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:',
    '<tool_call>',
    '{"name": <function-name>, "arguments": <args-json-object>}',
    '</tool_call>',
    '',
    ..._rules(options),
  ].join('\n')
}

/**
 * The closing system block of structured output (empty without a format).
 *
 * @example
 * renderFormatBlock({ type: 'json_object' })
 */
export function renderFormatBlock(format: ResponseFormat | undefined): string {
  if (!format) return ''
  const lines = [`${JSON_ONLY_LEAD}: no prose, no code fence, nothing before or after it.`]
  if (format.type === 'json_object') lines.push('It must be a JSON object.')
  else {
    lines.push(`It must be valid against this JSON Schema (named "${format.name}"${format.description ? `: ${format.description}` : ''}):`)
    lines.push('<json_schema>', JSON.stringify(format.schema), '</json_schema>')
  }
  return lines.join('\n')
}

/**
 * The whole prompt: the tools block first (as the Hermes/Qwen templates put
 * it), the conversation, then the format instruction last, where models heed
 * it most. Checks the conversation first (400 naming the message).
 *
 * @example
 * buildPrompt([{ role: 'user', text: 'Weather in Suzhou?' }], { tools })
 */
export function buildPrompt(messages: ChatMessage[], options: PromptOptions = {}): string {
  const blocks = [renderToolsBlock(options), renderConversation(checkConversation(messages, options.terms)), renderFormatBlock(options.responseFormat)]
  return blocks
    .map((text, i) => (text === '' || i === 1 ? text : `System:\n${text}`))
    .filter((text) => text.trim() !== '')
    .join('\n\n')
}

/**
 * What a repair call adds to the prompt: the rejected answer, and a note that
 * quotes why it was rejected and asks again.
 *
 * @example
 * renderRepairNote(request, '<tool_call>{"name":"nope"}</tool_call>', "'nope' is not one of the functions offered")
 */
export function renderRepairNote(request: Pick<ChatRequest, 'tools' | 'toolChoice' | 'responseFormat'>, answer: string, problem: string): string {
  const lines = [`${REPAIR_LEAD}: ${problem}.`, 'Answer the conversation above again, correctly.']
  if ((request.tools ?? []).length > 0) {
    lines.push('Write each function call as <tool_call>\n{"name": <function-name>, "arguments": <args-json-object>}\n</tool_call> with arguments valid against that function\'s "parameters" schema.')
  }
  if (request.responseFormat) lines.push(`${JSON_ONLY_LEAD}, valid against the format asked for.`)
  const previous = answer.trim() === '' ? '' : `Assistant:\n${answer.trim()}\n\n`
  return `\n\n${previous}System:\n${lines.join('\n')}`
}
