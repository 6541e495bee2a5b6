/**
 * Anthropic's Messages request (`POST /v1/messages`, and the same body for
 * `/v1/messages/count_tokens`): validated in Anthropic's terms, then
 * translated into a chat completions body for the one chat completions
 * parser (lib/openai/translated-body.ts). Claude Code and every tool built
 * on Anthropic's SDK send this shape.
 */
import { z } from 'zod'
import type { ChatRequest } from '../neutral.ts'
import { XipuError } from '../errors.ts'
import { parseTranslatedBody, type MessageOrigin } from '../openai/translated-body.ts'
import type { ConversationTerms } from '../tools/history.ts'
import { describeZodIssue } from '../zod-issue.ts'
import { checkStopSequences } from '../chat/stop-cutter.ts'
import { fromAnthropicToolId } from './tool-ids.ts'

// Anthropic documents no count; far more than any client sends, few enough to match cheaply.
const ANTHROPIC_STOP_MAX_COUNT = 64
// A tool conversation's faults, in the Messages API's terms.
const MESSAGES_TERMS: ConversationTerms = {
  result: 'tool_result block',
  resultId: 'tool_use_id',
  callsMessage: 'an assistant message with tool_use blocks',
  sendResults: "send each result as a 'tool_result' block in the next user message",
}

type Block = Record<string, unknown>

const block = z.object({ type: z.string() }).passthrough()
const messagesRequest = z
  .object({
    model: z.string().min(1, 'must be a non-empty string'),
    max_tokens: z.number().int().min(1),
    // Claude Code (2.1) also sends system messages mid-conversation (beta mid-conversation-system).
    messages: z.array(z.object({ role: z.enum(['user', 'assistant', 'system']), content: z.union([z.string(), z.array(block)], { errorMap: () => ({ message: 'must be a string or an array of content blocks' }) }) }).passthrough()).min(1, 'must hold at least one message'),
    system: z.union([z.string(), z.array(block)], { errorMap: () => ({ message: 'must be a string or an array of text blocks' }) }).nullish(),
    tools: z.array(z.object({ name: z.string(), type: z.string().nullish() }).passthrough()).nullish(),
    tool_choice: z.object({ type: z.enum(['auto', 'any', 'tool', 'none']), name: z.string().optional(), disable_parallel_tool_use: z.boolean().optional() }).passthrough().nullish(),
    thinking: z.object({ type: z.enum(['enabled', 'disabled', 'adaptive']), budget_tokens: z.number().int().min(1).optional() }).passthrough().nullish(),
    output_config: z.object({ effort: z.enum(['low', 'medium', 'high', 'max']).nullish() }).passthrough().nullish(),
    stop_sequences: z.array(z.string()).nullish(),
    temperature: z.number().min(0).max(1).nullish(),
    top_p: z.number().min(0).max(1).nullish(),
    top_k: z.number().int().min(0).nullish(),
    metadata: z.object({ user_id: z.string().nullish() }).passthrough().nullish(),
    stream: z.boolean().nullish(),
  })
  .passthrough()

// count_tokens takes the same body without max_tokens.
const countRequest = messagesRequest.extend({ max_tokens: z.number().int().min(1).optional() })

function _bad(message: string, param: string): XipuError {
  return new XipuError('E_BAD_REQUEST', message, { param })
}

/**
 * A thinking budget as the platform's effort. Claude Code asks 4000 tokens
 * for "think", 10000 for "think hard" and 31999 for "ultrathink"; the
 * platform only has four steps, so budgets map to them by size.
 *
 * @example
 * thinkingEffort(4000) // 'medium'
 */
export function thinkingEffort(budgetTokens: number | undefined): 'low' | 'medium' | 'high' {
  if (budgetTokens === undefined) return 'medium'
  if (budgetTokens < 2048) return 'low'
  if (budgetTokens < 8192) return 'medium'
  return 'high'
}

/** An image block as a chat completions `image_url` part. */
function _image(b: Block, param: string): Block {
  const source = (b.source ?? {}) as Record<string, unknown>
  if (source.type === 'base64' && typeof source.data === 'string' && typeof source.media_type === 'string') {
    return { type: 'image_url', image_url: { url: `data:${source.media_type};base64,${source.data}` } }
  }
  if (source.type === 'url' && typeof source.url === 'string') return { type: 'image_url', image_url: { url: source.url } }
  throw _bad(`Invalid value for '${param}.source': images must come as {"type":"base64","media_type","data"} or {"type":"url","url"}.`, `${param}.source`)
}

/**
 * A `tool_result`'s content (a string, or text and image blocks) as a tool
 * message's content: text, or chat parts when it holds images (Claude Code's
 * Read tool returns an image file that way), with where each part came from.
 */
function _resultContent(b: Block, param: string): { content: string | Block[]; parts?: number[] } {
  const content = b.content
  const error = b.is_error === true ? 'Error: ' : ''
  if (content === undefined || content === null) return { content: error }
  if (typeof content === 'string') return { content: `${error}${content}` }
  if (!Array.isArray(content)) throw _bad(`Invalid value for '${param}.content': must be a string or an array of text blocks.`, `${param}.content`)
  const parts = (content as Block[]).map((c, j): Block => {
    if (c.type === 'text' && typeof c.text === 'string') return { type: 'text', text: c.text }
    if (c.type === 'image') return _image(c, `${param}.content[${j}]`)
    throw _bad(`Blocks of type '${String(c.type)}' are not supported in a tool_result (${param}.content[${j}]): send text or images.`, `${param}.content[${j}]`)
  })
  if (!parts.some((p) => p.type === 'image_url')) return { content: `${error}${parts.map((p) => p.text).join('\n')}` }
  if (error) parts.unshift({ type: 'text', text: error.trim() })
  return { content: parts, parts: parts.map((_, i) => (error ? i - 1 : i)) }
}

/** Turns Anthropic messages into chat completions messages, remembering where each came from. */
function _messages(messages: Array<{ role: 'user' | 'assistant' | 'system'; content: string | Block[] }>, out: Block[], origins: MessageOrigin[], idNames: Record<string, string>): void {
  // The internal id of a client's toolu_ id; an error about it names the client's id again.
  const internalId = (id: string): string => {
    const internal = fromAnthropicToolId(id)
    if (internal !== id && /^call_[\w-]+$/.test(internal)) idNames[internal] = id
    return internal
  }
  messages.forEach((m, k) => {
    const path = `messages[${k}]`
    if (typeof m.content === 'string') {
      out.push({ role: m.role, content: m.content })
      origins.push({ path })
      return
    }
    const parts: Block[] = []
    const partOrigins: number[] = []
    const calls: Block[] = []
    m.content.forEach((b, j) => {
      const at = `${path}.content[${j}]`
      if (b.type === 'text') {
        if (typeof b.text !== 'string') throw _bad(`Invalid value for '${at}.text': must be a string.`, `${at}.text`)
        parts.push({ type: 'text', text: b.text })
        partOrigins.push(j)
      } else if (b.type === 'image' && m.role === 'user') {
        parts.push(_image(b, at))
        partOrigins.push(j)
      } else if (b.type === 'tool_use' && m.role === 'assistant') {
        if (typeof b.id !== 'string' || typeof b.name !== 'string') throw _bad(`'${at}' (a tool_use block) needs 'id' and 'name'.`, at)
        calls.push({ id: internalId(b.id), type: 'function', function: { name: b.name, arguments: JSON.stringify(b.input ?? {}) } })
      } else if (b.type === 'tool_result' && m.role === 'user') {
        if (typeof b.tool_use_id !== 'string') throw _bad(`'${at}' (a tool_result block) needs 'tool_use_id'.`, `${at}.tool_use_id`)
        // Results answer the calls of the turn before, so they go ahead of the user's own words.
        const result = _resultContent(b, at)
        out.push({ role: 'tool', tool_call_id: internalId(b.tool_use_id), content: result.content })
        origins.push({ path: at, ...(result.parts ? { parts: result.parts } : {}) })
      } else if (b.type === 'thinking' || b.type === 'redacted_thinking') {
        // The model's earlier thinking is not sent back to the platform.
      } else {
        throw _bad(`Content blocks of type '${String(b.type)}' are not supported in ${m.role} messages (${at}).`, `${at}.type`)
      }
    })
    if (parts.length === 0 && calls.length === 0) return
    out.push({ role: m.role, content: parts.length > 0 ? parts : null, ...(calls.length > 0 ? { tool_calls: calls } : {}) })
    origins.push({ path, parts: partOrigins })
  })
}

/** The platform's thinking for `thinking` (a budget) or adaptive thinking (`output_config.effort`). */
function _effort(body: Pick<z.infer<typeof messagesRequest>, 'thinking' | 'output_config'>): string | undefined {
  if (body.thinking?.type === 'enabled') return thinkingEffort(body.thinking.budget_tokens)
  if (body.thinking?.type === 'adaptive') return body.output_config?.effort === 'max' ? 'high' : (body.output_config?.effort ?? 'medium')
  return undefined
}

function _tools(tools: Array<Record<string, unknown>>): Block[] {
  return tools.map((tool, i) => {
    if (tool.type != null && tool.type !== 'custom') {
      throw _bad(`Tools of type '${String(tool.type)}' are not supported (tools[${i}]): the platform has no server tools; define client tools with name, description and input_schema.`, `tools[${i}].type`)
    }
    return { type: 'function', function: { name: tool.name, ...(tool.description != null ? { description: tool.description } : {}), parameters: tool.input_schema ?? { type: 'object' } } }
  })
}

function _toolChoice(choice: z.infer<typeof messagesRequest>['tool_choice']): unknown {
  if (!choice) return undefined
  if (choice.type === 'any') return 'required'
  if (choice.type === 'tool') {
    if (!choice.name) throw _bad(`'tool_choice' of type 'tool' needs 'name'.`, 'tool_choice.name')
    return { type: 'function', function: { name: choice.name } }
  }
  return choice.type
}

/**
 * Validates a Messages body and turns it into the internal request.
 * `forCount`: the count_tokens body, where `max_tokens` is not required.
 *
 * @example
 * const request = parseMessagesRequest({ model: 'claude-sonnet-4-5', max_tokens: 1024, messages: [{ role: 'user', content: 'Hi' }] })
 */
export function parseMessagesRequest(raw: unknown, options: { forCount?: boolean } = {}): ChatRequest {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw _bad('The request body must be a JSON object with "model", "max_tokens" and "messages".', 'body')
  const parsed = (options.forCount ? countRequest : messagesRequest).safeParse(raw)
  if (!parsed.success) throw describeZodIssue(parsed.error)
  const body = parsed.data

  const messages: Block[] = []
  const origins: MessageOrigin[] = []
  if (body.system) {
    const system = typeof body.system === 'string' ? body.system : body.system.map((b) => (b.type === 'text' && typeof b.text === 'string' ? b.text : '')).join('\n')
    if (system.trim() !== '') {
      messages.push({ role: 'system', content: system })
      origins.push({ path: 'system' })
    }
  }
  const idNames: Record<string, string> = {}
  _messages(body.messages as Array<{ role: 'user' | 'assistant' | 'system'; content: string | Block[] }>, messages, origins, idNames)

  const chat = parseTranslatedBody({
    body: {
      model: body.model,
      messages,
      stream: body.stream ?? false,
      temperature: body.temperature ?? undefined,
      top_p: body.top_p ?? undefined,
      max_completion_tokens: body.max_tokens,
      reasoning_effort: _effort(body),
      tools: body.tools && body.tools.length > 0 ? _tools(body.tools) : undefined,
      tool_choice: _toolChoice(body.tool_choice),
      parallel_tool_calls: body.tool_choice?.disable_parallel_tool_use ? false : undefined,
    },
    origins,
    renames: { max_completion_tokens: 'max_tokens', reasoning_effort: 'thinking', stop: 'stop_sequences', ...idNames },
    terms: MESSAGES_TERMS,
  })
  // Anthropic allows more stop sequences than chat completions' four: they are cut here, not by the parser.
  // Still bounded: each one is matched against every character of the answer.
  const stop = (body.stop_sequences ?? []).filter((s) => s !== '')
  checkStopSequences(body.stop_sequences ?? [], 'stop_sequences', ANTHROPIC_STOP_MAX_COUNT)
  return { ...chat, stop }
}

/** The body schemas that validate /v1/messages and its count_tokens, for /openapi.json (lib/api-docs/document.ts). */
export { messagesRequest as messagesBodySchema, countRequest as countTokensBodySchema }
