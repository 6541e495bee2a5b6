/**
 * The OpenAI Responses request (`POST /v1/responses`): validated in its own
 * terms, then translated into a chat completions body and parsed by the one
 * chat completions parser (lib/openai/translated-body.ts), so the pipeline
 * sees the same internal request whichever API a client speaks.
 */
import { z } from 'zod'
import type { ChatRequest } from '../neutral.ts'
import { XipuError } from '../errors.ts'
import { parseTranslatedBody, type MessageOrigin } from '../openai/translated-body.ts'
import type { ConversationTerms } from '../tools/history.ts'
import { describeZodIssue } from '../zod-issue.ts'

/** One input item as the client sent it (kept for `previous_response_id`). */
export type InputItem = Record<string, unknown>

const responsesRequest = z
  .object({
    model: z.string().min(1, 'must be a non-empty string'),
    input: z.union([z.string(), z.array(z.record(z.unknown()))], { errorMap: () => ({ message: 'must be a string or an array of input items' }) }).optional(),
    instructions: z.string().nullish(),
    tools: z.array(z.record(z.unknown())).nullish(),
    tool_choice: z.union([z.enum(['auto', 'none', 'required']), z.record(z.unknown())]).nullish(),
    parallel_tool_calls: z.boolean().nullish(),
    text: z.object({ format: z.object({ type: z.string() }).passthrough().nullish(), verbosity: z.string().nullish() }).passthrough().nullish(),
    reasoning: z.object({ effort: z.enum(['none', 'minimal', 'low', 'medium', 'high', 'xhigh']).nullish(), summary: z.string().nullish() }).passthrough().nullish(),
    max_output_tokens: z.number().int().min(1).nullish(),
    temperature: z.number().min(0).max(2).nullish(),
    top_p: z.number().min(0).max(1).nullish(),
    stream: z.boolean().nullish(),
    store: z.boolean().nullish(),
    metadata: z.record(z.string()).nullish(),
    previous_response_id: z.string().nullish(),
    background: z.boolean().nullish(),
    include: z.array(z.string()).nullish(),
    user: z.string().nullish(),
  })
  .passthrough()

export type ResponsesBody = z.infer<typeof responsesRequest>

/** A Responses request, parsed. */
export interface ResponsesRequest {
  chat: ChatRequest
  body: ResponsesBody
  /** This request's own input items (what a later `previous_response_id` builds on, with the output). */
  input: InputItem[]
}

function _bad(message: string, param: string): XipuError {
  return new XipuError('E_BAD_REQUEST', message, { param })
}

// The platform's `thinking` takes minimal/low/medium/high; `none` means no thinking asked for.
const _EFFORT: Record<string, string | undefined> = { none: undefined, minimal: 'minimal', low: 'low', medium: 'medium', high: 'high', xhigh: 'high' }

/** Text parts of a message's content, as chat completions parts (index for index). */
function _parts(content: unknown, param: string): Array<Record<string, unknown>> {
  if (!Array.isArray(content)) throw _bad(`Invalid value for '${param}': must be a string or an array of content parts like {"type":"input_text","text":"…"}.`, param)
  return content.map((part: unknown, j) => {
    const at = `${param}[${j}]`
    const p = (part && typeof part === 'object' ? part : {}) as Record<string, unknown>
    if (p.type === 'input_text' || p.type === 'output_text' || p.type === 'text') {
      if (typeof p.text !== 'string') throw _bad(`Invalid value for '${at}.text': must be a string.`, `${at}.text`)
      return { type: 'text', text: p.text }
    }
    if (p.type === 'refusal') return { type: 'text', text: typeof p.refusal === 'string' ? p.refusal : '' }
    if (p.type === 'input_image') {
      if (typeof p.image_url !== 'string' || p.image_url === '') throw _bad(`Images must come as 'image_url' (an https URL or a data: URL) (${at}); file ids are not supported: nothing is kept on the platform.`, at)
      return { type: 'image_url', image_url: { url: p.image_url, ...(typeof p.detail === 'string' ? { detail: p.detail } : {}) } }
    }
    throw _bad(`Content parts of type '${String(p.type)}' are not supported (${at}): send input_text or input_image parts.`, at)
  })
}

/** A `function_call_output`'s `output` (a string, or content parts) as a tool message's content: text, or chat parts when it holds images. */
function _outputContent(output: unknown, param: string): string | Array<Record<string, unknown>> {
  if (typeof output === 'string') return output
  if (Array.isArray(output)) {
    const parts = _parts(output, param)
    return parts.some((p) => p.type === 'image_url') ? parts : parts.map((p) => String(p.text)).join('\n')
  }
  throw _bad(`Invalid value for '${param}': must be a string.`, param)
}

/** Turns input items into chat completions messages, remembering where each came from. */
function _messages(items: InputItem[], offset: number, messages: Array<Record<string, unknown>>, origins: MessageOrigin[]): void {
  items.forEach((item, n) => {
    const path = n < offset ? 'previous_response_id' : `input[${n - offset}]`
    const type = item.type ?? (typeof item.role === 'string' ? 'message' : undefined)
    if (type === 'message') {
      const role = item.role
      if (role !== 'user' && role !== 'assistant' && role !== 'system' && role !== 'developer') {
        throw _bad(`Invalid value for '${path}.role': must be one of user, assistant, system, developer.`, `${path}.role`)
      }
      if (typeof item.content === 'string') {
        messages.push({ role, content: item.content })
        origins.push({ path })
      } else {
        const parts = _parts(item.content, `${path}.content`)
        messages.push({ role, content: parts })
        origins.push({ path, parts: parts.map((_, j) => j) })
      }
      return
    }
    if (type === 'function_call') {
      if (typeof item.name !== 'string' || typeof item.call_id !== 'string') throw _bad(`'${path}' (a function_call) needs 'call_id' and 'name'.`, path)
      const call = { id: item.call_id, type: 'function', function: { name: item.name, arguments: typeof item.arguments === 'string' ? item.arguments : JSON.stringify(item.arguments ?? {}) } }
      const last = messages.at(-1)
      // A model's calls of one turn travel as one assistant message, as chat completions has them.
      if (last?.role === 'assistant' && Array.isArray(last.tool_calls)) (last.tool_calls as unknown[]).push(call)
      else {
        messages.push({ role: 'assistant', content: null, tool_calls: [call] })
        origins.push({ path })
      }
      return
    }
    if (type === 'function_call_output') {
      if (typeof item.call_id !== 'string') throw _bad(`'${path}' (a function_call_output) needs 'call_id'.`, `${path}.call_id`)
      messages.push({ role: 'tool', tool_call_id: item.call_id, content: _outputContent(item.output, `${path}.output`) })
      origins.push({ path })
      return
    }
    // Reasoning is the model's own scratch work: it is not sent back to the platform.
    if (type === 'reasoning') return
    throw _bad(`Input items of type '${String(type)}' are not supported (${path}): send messages, function_call and function_call_output items.`, `${path}.type`)
  })
}

// The platform's own web search ("online") is what a hosted web_search tool asks for, as
// web_search_options is for chat completions. Codex offers it on every request.
// A tool conversation's faults, in the Responses API's terms.
const RESPONSES_TERMS: ConversationTerms = {
  result: 'function_call_output item',
  resultId: 'call_id',
  callsMessage: "a 'function_call' item",
  sendResults: "send each result as a 'function_call_output' item after it",
}

const _WEB_SEARCH = new Set(['web_search', 'web_search_preview', 'web_search_2025_08_26', 'web_search_preview_2025_03_11'])

function _tools(tools: Array<Record<string, unknown>>): { tools: Array<Record<string, unknown>>; origins: number[]; webSearch: boolean } {
  const out: Array<Record<string, unknown>> = []
  const origins: number[] = []
  let webSearch = false
  tools.forEach((tool, i) => {
    if (typeof tool.type === 'string' && _WEB_SEARCH.has(tool.type)) {
      webSearch = true
      return
    }
    if (tool.type === 'namespace') {
      throw _bad(`Tools of type 'namespace' are not supported (tools[${i}]): offer its functions as plain function tools. Codex sends its subagent tools this way: set enabled = false under [agents] in its config.toml.`, `tools[${i}].type`)
    }
    if (tool.type !== 'function') {
      throw _bad(`Tools of type '${String(tool.type)}' are not supported (tools[${i}]): only type 'function' tools (and web_search, the platform's own) are; the platform has no other built-in tools.`, `tools[${i}].type`)
    }
    const { name, description, parameters, strict } = tool
    origins.push(i)
    out.push({ type: 'function', function: { name, ...(description != null ? { description } : {}), ...(parameters != null ? { parameters } : {}), ...(strict != null ? { strict } : {}) } })
  })
  return { tools: out, origins, webSearch }
}

function _toolChoice(choice: ResponsesBody['tool_choice']): unknown {
  if (choice == null || typeof choice === 'string') return choice ?? undefined
  if (choice.type === 'function' && typeof choice.name === 'string') return { type: 'function', function: { name: choice.name } }
  if (choice.type === 'auto' || choice.type === 'none' || choice.type === 'required') return choice.type
  throw _bad(`'tool_choice' of type '${String(choice.type)}' is not supported: use auto, none, required or {"type":"function","name":"…"}.`, 'tool_choice')
}

function _responseFormat(format: { type: string; [key: string]: unknown } | null | undefined): unknown {
  if (format == null || format.type === 'text') return undefined
  if (format.type === 'json_object') return { type: 'json_object' }
  if (format.type === 'json_schema') {
    const { name, schema, description, strict } = format
    return { type: 'json_schema', json_schema: { name, schema, ...(description != null ? { description } : {}), ...(strict != null ? { strict } : {}) } }
  }
  throw _bad(`'text.format' of type '${format.type}' is not supported: use text, json_object or json_schema.`, 'text.format.type')
}

/**
 * Validates a Responses body and turns it into the internal request.
 * `previous` is the conversation of the response named by
 * `previous_response_id` (looked up by the caller), prepended to `input`.
 *
 * @example
 * const { chat } = parseResponsesRequest({ model: 'gpt-4.1', input: 'Hello' })
 */
export function parseResponsesRequest(raw: unknown, previous: InputItem[] = []): ResponsesRequest {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw _bad('The request body must be a JSON object with "model" and "input".', 'body')
  const parsed = responsesRequest.safeParse(raw)
  if (!parsed.success) throw describeZodIssue(parsed.error)
  const body = parsed.data
  if (body.background) throw _bad(`'background' responses are not supported: nothing runs or is kept on the platform after a request. Leave it out.`, 'background')
  for (const key of ['conversation', 'prompt'] as const) {
    if ((raw as Record<string, unknown>)[key] != null) throw _bad(`'${key}' is not supported: the adapter keeps no conversations or prompts; send 'input' (and 'previous_response_id').`, key)
  }

  const input: InputItem[] = body.input === undefined ? [] : typeof body.input === 'string' ? [{ role: 'user', content: body.input }] : body.input
  const messages: Array<Record<string, unknown>> = []
  const origins: MessageOrigin[] = []
  if (body.instructions) {
    messages.push({ role: 'system', content: body.instructions })
    origins.push({ path: 'instructions' })
  }
  _messages([...previous, ...input], previous.length, messages, origins)
  if (messages.length === 0) throw _bad(`'input' holds nothing to send.`, 'input')

  const offered = _tools(body.tools ?? [])
  const chatBody: Record<string, unknown> = {
    model: body.model,
    messages,
    stream: body.stream ?? false,
    temperature: body.temperature ?? undefined,
    top_p: body.top_p ?? undefined,
    max_completion_tokens: body.max_output_tokens ?? undefined,
    reasoning_effort: body.reasoning?.effort ? _EFFORT[body.reasoning.effort] : undefined,
    tools: offered.tools.length > 0 ? offered.tools : undefined,
    web_search_options: offered.webSearch ? {} : undefined,
    tool_choice: _toolChoice(body.tool_choice),
    parallel_tool_calls: body.parallel_tool_calls ?? undefined,
    response_format: _responseFormat(body.text?.format),
  }
  const chat = parseTranslatedBody({
    body: chatBody,
    origins,
    toolOrigins: offered.origins,
    renames: { messages: 'input', max_completion_tokens: 'max_output_tokens', reasoning_effort: 'reasoning.effort', response_format: 'text.format' },
    terms: RESPONSES_TERMS,
  })
  return { chat, body, input }
}

/** The body schema that validates /v1/responses, for /openapi.json (lib/api-docs/document.ts). */
export { responsesRequest as responsesBodySchema }
