/**
 * Bad input, table-driven: every malformed request gets a 4xx in OpenAI's
 * error shape that names the problem, and never reaches the platform.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { startStack, type Stack } from './support/harness.ts'

interface Case {
  name: string
  method?: string
  path?: string
  /** Sent as is when a string; JSON-encoded otherwise. */
  body?: unknown
  headers?: Record<string, string>
  status: number
  param: string | null
  /** The OpenAI error `code`. */
  code: string
  type?: string
  /** What the message must say. */
  message: RegExp
}

const ok = { model: 'gpt-4.1', messages: [{ role: 'user', content: 'Hello' }] }
const withField = (field: Record<string, unknown>) => ({ ...ok, ...field })
const withMessage = (message: unknown) => ({ ...ok, messages: [message] })
const BODY_LIMIT = 4096

const CASES: Case[] = [
  { name: 'not JSON', body: '{"model": "gpt-4.1", messages: [', status: 400, param: 'body', code: 'invalid_value', message: /not valid JSON/ },
  { name: 'empty body', body: '', status: 400, param: 'body', code: 'invalid_value', message: /empty/ },
  { name: 'a JSON array, not an object', body: [ok], status: 400, param: 'body', code: 'invalid_value', message: /JSON object/ },
  { name: 'a JSON string, not an object', body: '"hello"', status: 400, param: 'body', code: 'invalid_value', message: /JSON object/ },
  { name: 'JSON null', body: null, status: 400, param: 'body', code: 'invalid_value', message: /JSON object/ },
  { name: 'a JSON number', body: 42, status: 400, param: 'body', code: 'invalid_value', message: /JSON object/ },
  { name: 'messages missing', body: { model: 'gpt-4.1' }, status: 400, param: 'messages', code: 'invalid_value', message: /'messages'.*required/ },
  { name: 'messages empty', body: withField({ messages: [] }), status: 400, param: 'messages', code: 'invalid_value', message: /'messages'.*at least one/ },
  { name: 'messages a string', body: withField({ messages: 'Hello' }), status: 400, param: 'messages', code: 'invalid_value', message: /'messages'.*array/ },
  { name: 'messages an object', body: withField({ messages: { role: 'user', content: 'Hello' } }), status: 400, param: 'messages', code: 'invalid_value', message: /'messages'.*array/ },
  { name: 'a message that is not an object', body: withField({ messages: ['Hello'] }), status: 400, param: 'messages[0]', code: 'invalid_value', message: /'messages\[0\]'.*object/ },
  { name: 'a message without a role', body: withMessage({ content: 'Hello' }), status: 400, param: 'messages[0].role', code: 'invalid_value', message: /'messages\[0\]\.role'.*required/ },
  { name: 'a message with an unknown role', body: withMessage({ role: 'wizard', content: 'Hello' }), status: 400, param: 'messages[0].role', code: 'invalid_value', message: /'messages\[0\]\.role'.*wizard|'messages\[0\]\.role'.*(user|expected)/ },
  { name: 'a later message with a bad role', body: withField({ messages: [{ role: 'user', content: 'a' }, { role: 42, content: 'b' }] }), status: 400, param: 'messages[1].role', code: 'invalid_value', message: /'messages\[1\]\.role'/ },
  { name: 'content a number', body: withMessage({ role: 'user', content: 42 }), status: 400, param: 'messages[0].content', code: 'invalid_value', message: /'messages\[0\]\.content': must be a string, an array of content parts/ },
  { name: 'content an object', body: withMessage({ role: 'user', content: { text: 'Hello' } }), status: 400, param: 'messages[0].content', code: 'invalid_value', message: /'messages\[0\]\.content': must be a string, an array of content parts/ },
  { name: 'content a part without a type', body: withMessage({ role: 'user', content: [{ text: 'Hello' }] }), status: 400, param: 'messages[0].content', code: 'invalid_value', message: /'messages\[0\]\.content': must be a string, an array of content parts/ },
  { name: 'content that holds no text', body: withMessage({ role: 'user', content: '   ' }), status: 400, param: 'messages', code: 'invalid_value', message: /no text/ },
  { name: 'temperature above 2', body: withField({ temperature: 2.5 }), status: 400, param: 'temperature', code: 'invalid_value', message: /'temperature'.*2/ },
  { name: 'temperature below 0', body: withField({ temperature: -0.1 }), status: 400, param: 'temperature', code: 'invalid_value', message: /'temperature'.*0/ },
  { name: 'temperature a string', body: withField({ temperature: 'hot' }), status: 400, param: 'temperature', code: 'invalid_value', message: /'temperature'.*number/ },
  { name: 'top_p above 1', body: withField({ top_p: 1.5 }), status: 400, param: 'top_p', code: 'invalid_value', message: /'top_p'.*1/ },
  { name: 'top_p below 0', body: withField({ top_p: -1 }), status: 400, param: 'top_p', code: 'invalid_value', message: /'top_p'.*0/ },
  { name: 'n of 2', body: withField({ n: 2 }), status: 400, param: 'n', code: 'invalid_value', message: /'n' > 1/ },
  { name: 'n of 0', body: withField({ n: 0 }), status: 400, param: 'n', code: 'invalid_value', message: /'n'/ },
  { name: 'stream a string', body: withField({ stream: 'yes' }), status: 400, param: 'stream', code: 'invalid_value', message: /'stream'.*boolean/ },
  { name: 'stream a number', body: withField({ stream: 1 }), status: 400, param: 'stream', code: 'invalid_value', message: /'stream'.*boolean/ },
  { name: 'model a number', body: withField({ model: 41 }), status: 400, param: 'model', code: 'invalid_value', message: /'model'.*string/ },
  { name: 'model missing', body: { messages: ok.messages }, status: 400, param: 'model', code: 'invalid_value', message: /'model'.*required/ },
  { name: 'model empty', body: withField({ model: '' }), status: 400, param: 'model', code: 'invalid_value', message: /'model'/ },
  { name: 'a tool of another type than function', body: withField({ tools: [{ type: 'custom', custom: { name: 'f' } }] }), status: 400, param: 'tools[0].type', code: 'invalid_value', message: /'custom'/ },
  { name: 'only the :online suffix as model', body: withField({ model: ':online' }), status: 400, param: 'model', code: 'invalid_value', message: /'model'/ },
  { name: 'max_tokens of 0', body: withField({ max_tokens: 0 }), status: 400, param: 'max_tokens', code: 'invalid_value', message: /'max_tokens'/ },
  { name: 'five stop sequences', body: withField({ stop: ['a', 'b', 'c', 'd', 'e'] }), status: 400, param: 'stop', code: 'invalid_value', message: /'stop'/ },
  { name: 'an unknown reasoning_effort', body: withField({ reasoning_effort: 'extreme' }), status: 400, param: 'reasoning_effort', code: 'invalid_value', message: /'reasoning_effort'/ },
  { name: 'logprobs', body: withField({ logprobs: true }), status: 400, param: 'logprobs', code: 'invalid_value', message: /'logprobs'/ },
  { name: 'an audio part', body: withMessage({ role: 'user', content: [{ type: 'input_audio', input_audio: {} }] }), status: 400, param: 'messages[0].content[0]', code: 'invalid_value', message: /audio/i },
  { name: 'a tool that is not a function', body: withField({ tools: [{ type: 'web_search' }] }), status: 400, param: 'tools[0].type', code: 'invalid_value', message: /web_search|function/ },
  { name: 'an unknown response_format', body: withField({ response_format: { type: 'yaml' } }), status: 400, param: 'response_format.type', code: 'invalid_value', message: /yaml|response_format/ },
  { name: 'an image part that is no image', body: withMessage({ role: 'user', content: [{ type: 'image_url', image_url: { url: 'data:image/png;base64,AAAA' } }] }), status: 400, param: 'messages[0].content[0]', code: 'invalid_value', message: /not a PNG, JPEG, GIF or WebP/ },
  {
    name: 'a body over the limit (content-length)',
    body: withMessage({ role: 'user', content: 'x'.repeat(BODY_LIMIT) }),
    status: 413,
    param: null,
    code: 'request_too_large',
    message: /over the limit of 4096 bytes.*XIPU_BODY_LIMIT/,
  },
  {
    name: 'a body over the limit (chunked, no content-length)',
    body: 'chunked',
    status: 413,
    param: null,
    code: 'request_too_large',
    message: /over the limit of 4096 bytes/,
  },
  { name: 'unknown route under /v1', method: 'GET', path: '/v1/engines', status: 404, param: null, code: 'not_found', message: /Unknown route GET \/v1\/engines/ },
  { name: 'the legacy completions route', path: '/v1/completions', body: { model: 'gpt-4.1', prompt: 'Hi' }, status: 404, param: null, code: 'not_found', message: /Unknown route POST \/v1\/completions/ },
  { name: 'GET on chat completions', method: 'GET', path: '/v1/chat/completions', status: 404, param: null, code: 'not_found', message: /Unknown route GET/ },
  { name: 'unknown route at the root', method: 'DELETE', path: '/v2/models', status: 404, param: null, code: 'not_found', message: /Unknown route DELETE \/v2\/models/ },
]

/** A POST of a JSON object to the chat route (not a raw, chunked or non-object body). */
function _isChatBody(c: Case): boolean {
  return (c.method ?? 'POST') === 'POST' && (c.path ?? '/v1/chat/completions') === '/v1/chat/completions' && typeof c.body === 'object' && c.body !== null && !Array.isArray(c.body)
}

async function send(stack: Stack, c: Case): Promise<Response> {
  const method = c.method ?? 'POST'
  const url = `${stack.adapter.url}${c.path ?? '/v1/chat/completions'}`
  if (c.body === 'chunked') {
    // A stream body has no content-length: the limit must hold while reading.
    const piece = new TextEncoder().encode('x'.repeat(1024))
    let sent = 0
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent++ < 16) controller.enqueue(piece)
        else controller.close()
      },
    })
    return fetch(url, { method, body, headers: { 'content-type': 'application/json' }, duplex: 'half' } as RequestInit)
  }
  if (method === 'GET' || method === 'HEAD') return fetch(url, { method })
  const body = typeof c.body === 'string' ? c.body : JSON.stringify(c.body)
  return fetch(url, { method, body, headers: { 'content-type': 'application/json', ...c.headers } })
}

test('every malformed request gets a 4xx in OpenAI shape and never reaches the platform', async (t) => {
  const stack = await startStack({ stopAfter: t, readySession: true, overrides: { XIPU_BODY_LIMIT: String(BODY_LIMIT) } })
  assert.equal(stack.calls().length, 0, 'nothing called the platform before the table')

  for (const c of CASES) {
    // A chat body is refused alike whether it asks for a stream or not.
    const streamed = _isChatBody(c) ? [false, true] : [false]
    for (const stream of streamed) {
      await t.test(`${c.name}${stream ? ' (stream: true)' : ''}`, async () => {
        const response = await send(stack, stream ? { ...c, body: { stream: true, ...(c.body as object) } } : c)
        const text = await response.text()
        assert.equal(response.status, c.status, `status for ${c.name}: ${text}`)
        assert.match(response.headers.get('content-type') ?? '', /application\/json/)
      const body = JSON.parse(text) as { error: Record<string, unknown> }
        assert.deepEqual(Object.keys(body), ['error'])
        assert.deepEqual(Object.keys(body.error).sort(), ['code', 'message', 'param', 'type'])
        assert.equal(typeof body.error.message, 'string')
        assert.match(body.error.message as string, c.message)
        assert.equal(body.error.type, c.type ?? 'invalid_request_error')
        assert.equal(body.error.param, c.param)
        assert.equal(body.error.code, c.code)
        assert.deepEqual(stack.calls(), [], `${c.name} reached the platform`)
      })
    }
  }

  // The table above must not have left anything behind on the adapter's side either.
  assert.equal(stack.adapter.sessions.activeCount(), 0)
  assert.equal(stack.adapter.pacer.callCount(), 0)
})

test('the SDK surfaces a bad request as a 400 naming the parameter', async (t) => {
  const stack = await startStack({ stopAfter: t, readySession: true })
  await assert.rejects(
    stack.openai.chat.completions.create({ model: 'gpt-4.1', messages: [{ role: 'user', content: 'Hi' }], temperature: 9 }),
    (error: { status?: number; param?: string; type?: string }) => error.status === 400 && error.param === 'temperature' && error.type === 'invalid_request_error',
  )
  assert.deepEqual(stack.calls(), [])
})

test('the body limit defaults to 32 MiB and a body just under a small limit is accepted', async (t) => {
  const stack = await startStack({ stopAfter: t, overrides: { XIPU_BODY_LIMIT: String(BODY_LIMIT) } })
  const { bodyLimit } = (await startStack({ stopAfter: t, readySession: true })).adapter.settings()
  assert.equal(bodyLimit, 32 * 1024 * 1024)

  const content = 'y'.repeat(BODY_LIMIT - 200)
  const reply = await stack.openai.chat.completions.create({ model: 'gpt-4.1', messages: [{ role: 'user', content }] })
  assert.match(reply.choices[0]?.message.content ?? '', /^Echo from gpt-4\.1: y+/)
})
