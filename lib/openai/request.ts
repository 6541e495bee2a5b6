/**
 * The OpenAI chat request: validated by schema before anything touches the
 * platform, then turned into the pipeline's one internal request
 * (lib/neutral.ts): session fields and one flattened prompt.
 */
import { z } from 'zod'
import type { ChatRequest } from '../neutral.ts'
import { checkStopSequences } from '../chat/stop-cutter.ts'
import { XipuError } from '../errors.ts'
import { formatImageMarker, readImageUrl, type ImageInput } from '../images/input.ts'
import type { ConversationTerms } from '../tools/history.ts'
import { buildPrompt } from '../tools/prompt.ts'
import { readToolOptions, toChatMessages } from './request-tools.ts'

const textPart = z.object({ type: z.literal('text'), text: z.string() }).passthrough()
const imagePart = z
  .object({ type: z.literal('image_url'), image_url: z.union([z.string(), z.object({ url: z.string() }).passthrough()]) })
  .passthrough()
  .describe('An image (PNG, JPEG, GIF or WebP) for a model the catalog marks multimodal: a data: URL, or an http(s) URL the adapter fetches from public addresses only')
const otherPart = z.object({ type: z.string() }).passthrough()
// One message for every way content can be wrong: zod's own for a failed union is just "Invalid input".
const content = z.union([z.string(), z.array(z.union([textPart, imagePart, otherPart])), z.null()], {
  errorMap: () => ({ message: 'must be a string, an array of content parts like {"type":"text","text":"…"}, or null' }),
})

// The platform's session field `maxToken` is a 32-bit integer: 1e308 would reach it as garbage.
const MAX_TOKENS_LIMIT = 2_147_483_647
const MAX_TOKENS_MESSAGE = `must be at most ${MAX_TOKENS_LIMIT} (leave it out for no limit)`

const message = z
  .object({
    role: z.enum(['system', 'developer', 'user', 'assistant', 'tool', 'function']),
    content: content.optional(),
    name: z.string().optional(),
  })
  .passthrough()

const chatRequest = z
  .object({
    model: z.string().min(1, 'must be a non-empty string'),
    messages: z.array(message).min(1, 'must hold at least one message'),
    stream: z.boolean().optional(),
    stream_options: z.object({ include_usage: z.boolean().optional() }).passthrough().nullish(),
    temperature: z.number().min(0).max(2).nullish(),
    top_p: z.number().min(0).max(1).nullish(),
    n: z.number().int().min(1).nullish(),
    max_tokens: z.number().int().min(1).max(MAX_TOKENS_LIMIT, MAX_TOKENS_MESSAGE).nullish(),
    max_completion_tokens: z.number().int().min(1).max(MAX_TOKENS_LIMIT, MAX_TOKENS_MESSAGE).nullish(),
    presence_penalty: z.number().min(-2).max(2).nullish(),
    frequency_penalty: z.number().min(-2).max(2).nullish(),
    // Counted and measured after parsing (checkStopSequences), for a message that says which bound.
    stop: z.union([z.string(), z.array(z.string())], { errorMap: () => ({ message: 'must be a string or an array of strings' }) }).nullish(),
    reasoning_effort: z.enum(['minimal', 'low', 'medium', 'high']).nullish(),
    web_search_options: z.object({}).passthrough().nullish(),
    tools: z.array(z.unknown()).nullish(),
    tool_choice: z.unknown().optional(),
    parallel_tool_calls: z.boolean().nullish(),
    functions: z.array(z.unknown()).nullish(),
    function_call: z.unknown().optional(),
    response_format: z.object({ type: z.string() }).passthrough().nullish(),
    logprobs: z.boolean().nullish(),
  })
  .passthrough()

export type ChatRequestBody = z.infer<typeof chatRequest>

/** The internal request, plus what only the chat completions reply needs. */
export interface OpenAIChatRequest extends ChatRequest {
  /** The request used the legacy `functions`: the reply carries `function_call`, not `tool_calls`. */
  legacyFunctions: boolean
}

function _path(path: PropertyKey[]): string {
  return path.reduce<string>((out, key) => (typeof key === 'number' ? `${out}[${key}]` : out ? `${out}.${String(key)}` : String(key)), '')
}

function _badRequest(message: string, param: string): XipuError {
  return new XipuError('E_BAD_REQUEST', message, { param })
}

/**
 * Validates a parsed JSON body. Throws `E_BAD_REQUEST` naming the parameter
 * (a tool conversation's faults in `terms`: those of the API the body was
 * translated from, chat completions' by default).
 *
 * @example
 * const request = parseChatRequest(await readBody(event))
 */
export function parseChatRequest(body: unknown, terms?: ConversationTerms): OpenAIChatRequest {
  if (!body || typeof body !== 'object' || Array.isArray(body)) {
    throw _badRequest('The request body must be a JSON object with "model" and "messages".', 'body')
  }
  const parsed = chatRequest.safeParse(body)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!
    const param = _path(issue.path) || 'body'
    const detail =
      issue.code === 'invalid_type'
        ? issue.received === 'undefined'
          ? 'is required'
          : `must be ${issue.expected} (got ${issue.received})`
        : issue.message.replace(/^Invalid input$/, 'is not valid')
    throw _badRequest(`Invalid value for '${param}': ${detail}.`, param)
  }
  const r = parsed.data
  if (r.n != null && r.n > 1) throw _badRequest(`'n' > 1 is not supported: the platform gives one answer per request. Send n: 1 or leave it out.`, 'n')
  const toolOptions = readToolOptions(r)
  if (r.logprobs) throw _badRequest(`'logprobs' is not supported by the platform. Leave it out.`, 'logprobs')

  const { messages: withMarkers, images } = _takeImages(r.messages)

  const online = r.model.endsWith(':online') || r.web_search_options != null
  const upstreamModel = r.model.replace(/:online$/, '')
  if (upstreamModel === '') throw _badRequest(`Invalid value for 'model': name a model before ':online'.`, 'model')
  const messages = toChatMessages(withMarkers)
  if (!messages.some((m) => m.text.trim() !== '' || (m.toolCalls?.length ?? 0) > 0)) throw _badRequest(`'messages' hold no text to send.`, 'messages')
  const { legacyFunctions, ...tooling } = toolOptions
  const prompt = buildPrompt(messages, { ...tooling, terms })

  const stop = r.stop == null ? [] : (Array.isArray(r.stop) ? r.stop : [r.stop]).filter((s) => s !== '')
  checkStopSequences(Array.isArray(r.stop) ? r.stop : stop, 'stop')

  return {
    model: r.model,
    upstreamModel,
    stream: r.stream ?? false,
    includeUsage: r.stream_options?.include_usage ?? false,
    temperature: r.temperature ?? 0.7,
    maxTokens: r.max_completion_tokens ?? r.max_tokens ?? 0,
    presencePenalty: r.presence_penalty ?? 0,
    frequencyPenalty: r.frequency_penalty ?? 0,
    stop,
    online,
    thinking: r.reasoning_effort ?? undefined,
    prompt,
    ...(images.length > 0 ? { images } : {}),
    messageCount: r.messages.length,
    ...tooling,
    legacyFunctions,
  }
}

/**
 * Takes the images out of the messages, in order, leaving `[Image n]` where
 * each was, so that the model can tell them apart (the completion's `files`
 * are in the same order). User and tool messages carry images.
 */
function _takeImages(messages: ChatRequestBody['messages']): { messages: ChatRequestBody['messages']; images: ImageInput[] } {
  const images: ImageInput[] = []
  const out = messages.map((m, i) => {
    if (!Array.isArray(m.content)) return m
    const content = m.content.map((part, j) => {
      const type = (part as { type: string }).type
      if (type === 'text') return part
      const param = `messages[${i}].content[${j}]`
      if (type !== 'image_url') throw _badRequest(`Content parts of type '${type}' are not supported (${param}): send text or image_url parts.`, param)
      // Tool results may carry images too: Anthropic's tool_result and the Responses API's function_call_output do.
      if (m.role !== 'user' && m.role !== 'tool') throw _badRequest(`Images are taken in user and tool messages only (${param} is in a ${m.role} message).`, param)
      const image = (part as { image_url: string | { url: string } }).image_url
      images.push(readImageUrl(typeof image === 'string' ? image : image.url, param))
      return { type: 'text' as const, text: formatImageMarker(images.length) }
    })
    return { ...m, content }
  })
  return { messages: out, images }
}

/**
 * Flattens a conversation into one prompt, as the original adapter did: each
 * message as `Role:` and its content, a blank line between; tool calls and
 * results in the envelope of lib/tools/history.ts. The platform keeps
 * history per session, and the adapter's sessions are fresh, so the whole
 * conversation must travel in the one `text` field.
 *
 * @example
 * flattenMessages([{ role: 'user', content: 'Hi' }]) // 'User:\nHi'
 * @internal test hook: outside this module only tests use it.
 */
export function flattenMessages(messages: Array<{ role: string; content?: unknown; [field: string]: unknown }>): string {
  return buildPrompt(toChatMessages(messages as Array<Record<string, unknown>>))
}

/** The body schema that validates chat completions, for /openapi.json (lib/api-docs/document.ts). */
export { chatRequest as chatCompletionsBodySchema }
