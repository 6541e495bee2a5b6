/**
 * `/openapi.json`: an OpenAPI 3.1 description of every route the adapter
 * serves, generated from the same zod schemas that validate the requests
 * (@asteasolutions/zod-to-openapi), so that the description cannot drift
 * from what the adapter accepts. Replies are described by small schemas
 * here: the adapter writes them, it does not validate them.
 */
import { readFileSync } from 'node:fs'
import { OpenAPIRegistry, OpenApiGeneratorV31, extendZodWithOpenApi } from '@asteasolutions/zod-to-openapi'
import { z } from 'zod'
import { countTokensBodySchema, messagesBodySchema } from '../anthropic/request.ts'
import { chatCompletionsBodySchema } from '../openai/request.ts'
import { responsesBodySchema } from '../responses/request.ts'

// Adds `.openapi()` to zod's prototype: needed to name schemas as components.
extendZodWithOpenApi(z)

// The adapter's own version, as package.json gives it.
const VERSION = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version

const openAIError = z
  .object({ error: z.object({ message: z.string(), type: z.string(), param: z.string().nullable(), code: z.string().nullable() }) })
  .openapi('Error', { description: "OpenAI's error shape (Anthropic's on /v1/messages)." })
const anthropicError = z.object({ type: z.literal('error'), error: z.object({ type: z.string(), message: z.string() }) }).openapi('AnthropicError')
const model = z
  .object({ id: z.string(), object: z.literal('model'), created: z.number(), owned_by: z.string(), name: z.string(), display_name: z.string().describe('The same name, as Anthropic calls it'), multimodal: z.boolean().describe('The catalog says it takes images'), alias_of: z.string().optional().describe('Set on the names of XIPU_MODEL_MAP (owned_by "xipu-alias"): the platform model the name stands for') })
  .openapi('Model')
const modelList = z.object({ object: z.literal('list'), data: z.array(model) }).openapi('ModelList')
const toolCall = z.object({ id: z.string(), type: z.literal('function'), function: z.object({ name: z.string(), arguments: z.string().describe('The arguments object as JSON text') }) }).openapi('ToolCall')
const chatCompletion = z
  .object({
    id: z.string(),
    object: z.literal('chat.completion'),
    created: z.number(),
    model: z.string(),
    choices: z.array(z.object({ index: z.number(), message: z.object({ role: z.literal('assistant'), content: z.string().nullable(), reasoning_content: z.string().optional(), tool_calls: z.array(toolCall).optional() }).passthrough(), finish_reason: z.string() })),
    usage: z.object({ prompt_tokens: z.number(), completion_tokens: z.number(), total_tokens: z.number() }).passthrough(),
  })
  .passthrough()
  .openapi('ChatCompletion')
const anyObject = z.object({}).passthrough()

const errors = (shape: z.ZodTypeAny = openAIError) => {
  const body = { content: { 'application/json': { schema: shape } } }
  return {
    400: { description: 'The request is not valid (checked before anything reaches the platform)', ...body },
    401: { description: 'Missing or wrong API key (ADAPTER_API_KEY), or a platform token that could not be renewed', ...body },
    413: { description: 'The body is over XIPU_BODY_LIMIT, or an image over XIPU_IMAGE_MAX_BYTES', ...body },
    429: { description: 'Too many requests waiting for the platform, or its rate limit', ...body },
    502: { description: 'The platform failed (an image upload included), or the model\'s tool call or JSON answer failed its checks also after the repair (invalid_model_output)', ...body },
    503: { description: 'Shutting down, or the platform holds its 50 sessions', ...body },
  }
}
const json = (schema: z.ZodTypeAny, description: string) => ({ description, content: { 'application/json': { schema } } })
const jsonOrStream = (schema: z.ZodTypeAny, description: string) => ({
  description,
  content: { 'application/json': { schema }, 'text/event-stream': { schema: z.string().describe('Server-sent events, when "stream": true') } },
})
const body = (schema: z.ZodTypeAny) => ({ body: { required: true, content: { 'application/json': { schema } } } })
const idParam = (name: string) => ({ params: z.object({ id: z.string().openapi({ param: { name: 'id', in: 'path' }, description: name }) }) })

/**
 * @example
 * const document = createOpenApiDocument() // { openapi: '3.1.0', paths: { '/v1/chat/completions': … } }
 */
export function createOpenApiDocument(): Record<string, unknown> {
  const registry = new OpenAPIRegistry()
  const bearer = registry.registerComponent('securitySchemes', 'apiKey', {
    type: 'http',
    scheme: 'bearer',
    description: 'ADAPTER_API_KEY, when set (any value otherwise). /v1/messages also takes it as x-api-key.',
  })
  const security = [{ [bearer.name]: [] }]
  // Named, so that clients generated from the description get one type per request body.
  const chatBody = registry.register('ChatCompletionRequest', chatCompletionsBodySchema.openapi('ChatCompletionRequest'))
  const responsesBody = registry.register('ResponsesRequest', responsesBodySchema.openapi('ResponsesRequest'))
  const messagesBody = registry.register('MessagesRequest', messagesBodySchema.openapi('MessagesRequest'))

  const openai = ['OpenAI']
  registry.registerPath({ method: 'get', path: '/v1/models', tags: openai, summary: "The platform's models (its catalog, cached; a built-in list when it cannot be read), then the names of XIPU_MODEL_MAP as aliases", security, responses: { 200: json(modelList, 'The models'), ...errors() } })
  registry.registerPath({ method: 'get', path: '/v1/models/{id}', tags: openai, summary: 'One model of the catalog, or an alias of XIPU_MODEL_MAP', security, request: idParam('Model id'), responses: { 200: json(model, 'The model'), 404: json(openAIError, 'Not in the catalog (any id is still passed through to chat)') } })
  registry.registerPath({
    method: 'post',
    path: '/v1/chat/completions',
    tags: openai,
    summary: 'Chat completions: the whole conversation travels as one prompt to the platform',
    security,
    request: body(chatBody),
    responses: { 200: jsonOrStream(chatCompletion, 'The answer, or chat.completion.chunk events ending with [DONE]'), ...errors() },
  })
  registry.registerPath({ method: 'post', path: '/v1/responses', tags: openai, summary: "OpenAI's Responses API (Codex, newer SDKs)", security, request: body(responsesBody), responses: { 200: jsonOrStream(anyObject.openapi('Response'), 'The response object, or its typed events'), ...errors() } })
  registry.registerPath({ method: 'get', path: '/v1/responses/{id}', tags: openai, summary: 'A response kept in memory (XIPU_RESPONSES_KEEP)', security, request: idParam('Response id'), responses: { 200: json(anyObject, 'The response'), 404: json(openAIError, 'Not kept (or never was)') } })
  registry.registerPath({ method: 'delete', path: '/v1/responses/{id}', tags: openai, summary: 'Forgets a kept response', security, request: idParam('Response id'), responses: { 200: json(z.object({ id: z.string(), object: z.literal('response'), deleted: z.literal(true) }), 'Forgotten'), 404: json(openAIError, 'Not kept') } })

  const anthropic = ['Anthropic']
  registry.registerPath({ method: 'post', path: '/v1/messages', tags: anthropic, summary: "Anthropic's Messages API (Claude Code, the Anthropic SDK)", security, request: body(messagesBody), responses: { 200: jsonOrStream(anyObject.openapi('Message'), 'The message, or its typed events'), ...errors(anthropicError) } })
  registry.registerPath({ method: 'post', path: '/v1/messages/count_tokens', tags: anthropic, summary: 'An estimate of the input tokens', security, request: body(countTokensBodySchema), responses: { 200: json(z.object({ input_tokens: z.number() }), 'The estimate'), ...errors(anthropicError) } })

  const adapter = ['Adapter']
  registry.registerPath({ method: 'get', path: '/', tags: adapter, summary: 'An index of the routes (JSON), or the status page for a browser (Accept: text/html)', responses: { 200: { description: 'The index or the page', content: { 'application/json': { schema: anyObject }, 'text/html': { schema: z.string() } } } } })
  registry.registerPath({ method: 'get', path: '/health', tags: adapter, summary: 'Liveness, token expiry, queue, sessions, memory (no key needed)', responses: { 200: json(anyObject.openapi('Health'), 'The health report') } })
  registry.registerPath({ method: 'get', path: '/status.json', tags: adapter, summary: "The status page's data: token, keepalive, models, queue, sessions, the last 50 requests, problems", security, responses: { 200: json(anyObject.openapi('Status'), 'The status'), 401: json(openAIError, 'Missing or wrong API key') } })
  registry.registerPath({ method: 'get', path: '/openapi.json', tags: adapter, summary: 'This description', responses: { 200: json(anyObject, 'OpenAPI 3.1') } })
  registry.registerPath({ method: 'get', path: '/docs', tags: adapter, summary: 'This description as a page (Swagger UI, served locally)', responses: { 200: { description: 'HTML', content: { 'text/html': { schema: z.string() } } } } })

  return new OpenApiGeneratorV31(registry.definitions).generateDocument({
    openapi: '3.1.0',
    info: {
      title: 'xipu-openai',
      version: VERSION,
      description: "A local OpenAI- and Anthropic-compatible API for XJTLU's XIPU AI. Every route is also served without the /v1 prefix.",
    },
    servers: [{ url: '/' }],
  }) as unknown as Record<string, unknown>
}
