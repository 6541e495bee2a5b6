/**
 * Anthropic's Messages API end to end: the official `@anthropic-ai/sdk`
 * (`messages.create`, `messages.stream()`, `countTokens`) → the adapter →
 * the simulated platform. The same pipeline as chat completions; errors in
 * Anthropic's shape at Anthropic's statuses; the key as `x-api-key` or Bearer.
 */
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import Anthropic from '@anthropic-ai/sdk'
import { createAnswer } from '../lib/simulator/answers.ts'
import { startStack, type Stack } from './support/harness.ts'
import { waitFor } from './support/wait-for.ts'

const KEY = 'test-key-messages'
let stack: Stack
let client: Anthropic

before(async () => {
  stack = await startStack({ gapMs: 50, overrides: { ADAPTER_API_KEY: KEY, XIPU_MODEL_MAP: 'claude-sonnet-4-5=claude-3-7-sonnet-20250219,claude-haiku-4-5=gpt-5.4-mini' } })
  // The SDK sends its key as x-api-key, as Claude Code does.
  client = new Anthropic({ baseURL: stack.adapter.url, apiKey: KEY, maxRetries: 0 })
})
after(async () => {
  await stack?.close()
})

function expected(model: string, text: string, thinking?: string) {
  return createAnswer({ model, text, history: [], online: false, thinking, maxToken: 0, files: [] })
}

/** POSTs to /v1/messages with fetch and reads the SSE frames. */
async function rawStream(target: Stack, body: Record<string, unknown>): Promise<Array<{ event: string; data: Record<string, unknown> }>> {
  const response = await fetch(`${target.adapter.url}/v1/messages`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': KEY, 'anthropic-version': '2023-06-01', 'anthropic-beta': 'interleaved-thinking-2025-05-14' },
    body: JSON.stringify({ max_tokens: 1024, ...body, stream: true }),
  })
  assert.equal(response.status, 200)
  return (await response.text())
    .split('\n\n')
    .filter((frame) => frame.trim() !== '')
    .map((frame) => {
      const [eventLine, dataLine, ...rest] = frame.split('\n')
      assert.equal(rest.length, 0)
      assert.match(eventLine!, /^event: /)
      assert.match(dataLine!, /^data: /)
      const data = JSON.parse(dataLine!.slice(6)) as Record<string, unknown>
      assert.equal(data.type, eventLine!.slice(7), 'the event line names the data type')
      return { event: eventLine!.slice(7), data }
    })
}

describe('messages.create', () => {
  test('text, with a system prompt; XIPU_MODEL_MAP sends claude-sonnet-4-5 to a platform model; one session, pooled', async () => {
    const since = stack.sim.state.calls.length
    const message = await client.messages.create({ model: 'claude-sonnet-4-5', max_tokens: 1024, system: [{ type: 'text', text: 'Be brief.' }], messages: [{ role: 'user', content: 'Hello' }] })

    const prompt = 'System:\nBe brief.\n\nUser:\nHello'
    assert.match(message.id, /^msg_/)
    assert.equal(message.type, 'message')
    assert.equal(message.role, 'assistant')
    assert.equal(message.model, 'claude-sonnet-4-5', 'the requested name, not the platform model')
    assert.deepEqual(message.content, [{ type: 'text', text: expected('claude-3-7-sonnet-20250219', prompt).text }])
    assert.equal(message.stop_reason, 'end_turn')
    assert.equal(message.stop_sequence, null)
    assert.equal(message.usage.input_tokens, Math.ceil(prompt.length / 4))
    assert.ok(message.usage.output_tokens > 0)

    await stack.waitForCleanPlatform()
    const save = stack.calls({ endpoint: 'saveSession', since })[0]!.body as { model: string; maxToken: number }
    assert.equal(save.model, 'claude-3-7-sonnet-20250219')
    assert.equal(save.maxToken, 1024, 'max_tokens is the session limit, as max_tokens is for chat completions')
    assert.equal((stack.calls({ endpoint: 'completions', since })[0]!.body as { text: string }).text, prompt)
    // Kept in the pool of stateless sessions for the next request.
    assert.equal(stack.calls({ endpoint: 'delSession', since }).length, 0)
    assert.ok(stack.adapter.sessions.pool.freeIds().includes(Number((stack.calls({ endpoint: 'completions', since })[0]!.body as { sessionId: string }).sessionId)))
  })

  test('a conversation of content blocks is flattened as chat completions flattens it', async () => {
    const since = stack.sim.state.calls.length
    await client.messages.create({
      model: 'gpt-4.1',
      max_tokens: 200,
      messages: [
        { role: 'user', content: [{ type: 'text', text: 'First' }] },
        { role: 'assistant', content: [{ type: 'thinking', thinking: 'old thoughts', signature: 'sig' }, { type: 'text', text: 'Answer one' }] },
        { role: 'user', content: 'Second' },
      ],
    })
    assert.equal((stack.calls({ endpoint: 'completions', since })[0]!.body as { text: string }).text, 'User:\nFirst\n\nAssistant:\nAnswer one\n\nUser:\nSecond', 'earlier thinking is not sent back')
  })

  test('thinking: the budget becomes the platform thinking effort; the thinking block carries a signature', async () => {
    const since = stack.sim.state.calls.length
    const message = await client.messages.create({ model: 'claude-haiku-4-5', max_tokens: 16000, thinking: { type: 'enabled', budget_tokens: 10000 }, messages: [{ role: 'user', content: 'Think hard' }] })
    const want = expected('gpt-5.4-mini', 'User:\nThink hard', 'high')
    assert.equal((stack.calls({ endpoint: 'completions', since })[0]!.body as { thinking?: string }).thinking, 'high')
    assert.equal(message.content.length, 2)
    const [thinking, text] = message.content
    assert.ok(thinking!.type === 'thinking')
    assert.equal(thinking.thinking, want.reasoning)
    assert.ok(thinking.signature.length > 0)
    assert.deepEqual(text, { type: 'text', text: want.text })
  })

  test('stop_sequences: stop_reason stop_sequence, naming the sequence; max_tokens: stop_reason max_tokens', async () => {
    const stopped = await client.messages.create({ model: 'gpt-4.1', max_tokens: 1024, stop_sequences: ['never', '| turns'], messages: [{ role: 'user', content: 'Stop here' }] })
    assert.equal(stopped.stop_reason, 'stop_sequence')
    assert.equal(stopped.stop_sequence, '| turns')
    assert.deepEqual(stopped.content, [{ type: 'text', text: 'Echo from gpt-4.1: Stop here ' }])

    const cut = await client.messages.create({ model: 'gpt-4.1', max_tokens: 30, messages: [{ role: 'user', content: 'Long [[sim:long=4000]]' }] })
    assert.equal(cut.stop_reason, 'max_tokens')
  })

  test("Claude Code's own shape: ?beta=true, adaptive thinking with output_config.effort, a system message mid-conversation, context_management", async () => {
    const since = stack.sim.state.calls.length
    const response = await fetch(`${stack.adapter.url}/v1/messages?beta=true`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': KEY, 'anthropic-version': '2023-06-01', 'anthropic-beta': 'claude-code-20250219,mid-conversation-system-2026-04-07,effort-2025-11-24' },
      body: JSON.stringify({
        model: 'claude-sonnet-4-5',
        max_tokens: 64000,
        thinking: { type: 'adaptive' },
        output_config: { effort: 'max' },
        context_management: { edits: [{ type: 'clear_thinking_20251015', keep: 'all' }] },
        metadata: { user_id: 'someone' },
        system: [{ type: 'text', text: 'You are Claude Code.', cache_control: { type: 'ephemeral' } }],
        messages: [
          { role: 'user', content: [{ type: 'text', text: 'Say hello' }] },
          { role: 'system', content: 'Agent types: none.' },
        ],
      }),
    })
    assert.equal(response.status, 200)
    const message = (await response.json()) as { content: Array<{ type: string }> }
    assert.deepEqual(message.content.map((b) => b.type), ['thinking', 'text'])
    const sent = stack.calls({ endpoint: 'completions', since })[0]!.body as { text: string; thinking: string }
    assert.equal(sent.thinking, 'high', "effort max is the platform's highest")
    assert.equal(sent.text, 'System:\nYou are Claude Code.\n\nUser:\nSay hello\n\nSystem:\nAgent types: none.')
  })

  test('Authorization: Bearer carries the key too', async () => {
    const bearer = new Anthropic({ baseURL: stack.adapter.url, authToken: KEY, apiKey: null, maxRetries: 0 })
    const message = await bearer.messages.create({ model: 'gpt-4.1', max_tokens: 100, messages: [{ role: 'user', content: 'Hi' }] })
    assert.equal(message.stop_reason, 'end_turn')
  })
})

describe('messages.stream', () => {
  test('stream() and finalMessage(): text deltas build the same message', async () => {
    const stream = client.messages.stream({ model: 'gpt-4.1', max_tokens: 1024, messages: [{ role: 'user', content: 'Stream this' }] })
    let text = ''
    stream.on('text', (delta) => {
      text += delta
    })
    const final = await stream.finalMessage()
    const want = expected('gpt-4.1', 'User:\nStream this').text
    assert.equal(text, want)
    assert.deepEqual(final.content, [{ type: 'text', text: want }])
    assert.equal(final.stop_reason, 'end_turn')
    assert.ok(final.usage.output_tokens > 0)
  })

  test('the wire: event: and data: lines; message_start, ping, thinking then text blocks, message_delta, message_stop', async () => {
    const frames = await rawStream(stack, { model: 'DeepSeek-R1', messages: [{ role: 'user', content: 'Reason' }] })
    const want = expected('DeepSeek-R1', 'User:\nReason')
    const types = frames.map((f) => f.event)
    assert.deepEqual(types.slice(0, 4), ['message_start', 'ping', 'content_block_start', 'content_block_delta'])
    assert.deepEqual(types.slice(-2), ['message_delta', 'message_stop'])
    const deltas = frames.filter((f) => f.event === 'content_block_delta').map((f) => f.data as { index: number; delta: Record<string, string> })
    assert.equal(deltas.filter((d) => d.delta.type === 'thinking_delta').map((d) => d.delta.thinking).join(''), want.reasoning)
    assert.equal(deltas.filter((d) => d.delta.type === 'text_delta').map((d) => d.delta.text).join(''), want.text)
    assert.ok(deltas.some((d) => d.index === 0 && d.delta.type === 'signature_delta'))
    assert.ok(deltas.filter((d) => d.delta.type === 'text_delta').every((d) => d.index === 1))
    const starts = frames.filter((f) => f.event === 'content_block_start').map((f) => (f.data.content_block as { type: string }).type)
    assert.deepEqual(starts, ['thinking', 'text'])
    assert.equal(frames.filter((f) => f.event === 'content_block_stop').length, 2)
    const end = frames.at(-2)!.data as { delta: { stop_reason: string }; usage: { output_tokens: number } }
    assert.equal(end.delta.stop_reason, 'end_turn')
    assert.ok(end.usage.output_tokens > 0)
  })

  test('a platform failure mid-stream is an error event, and the session is still deleted', async () => {
    const frames = await rawStream(stack, { model: 'gpt-4.1', messages: [{ role: 'user', content: 'Fail [[sim:long=3000]] [[sim:error-after=3]]' }] })
    const last = frames.at(-1)!
    assert.equal(last.event, 'error')
    assert.equal((last.data.error as { type: string }).type, 'api_error')
    assert.ok(!frames.some((f) => f.event === 'message_stop'))
    await stack.waitForCleanPlatform()
  })

  test('pings while the platform is slow to answer', { timeout: 30_000 }, async (t) => {
    const slow = await startStack({ stopAfter: t, gapMs: 50, simulator: { firstByteDelayMs: 1800 }, overrides: { ADAPTER_API_KEY: KEY } })
    const frames = await rawStream(slow, { model: 'gpt-4.1', messages: [{ role: 'user', content: 'Slow' }] })
    const types = frames.map((f) => f.event)
    assert.deepEqual(types.slice(0, 2), ['message_start', 'ping'], 'the stream starts before the platform answers')
    assert.equal(types.at(-1), 'message_stop')
  })
})

describe('tools', () => {
  const tools = [{ name: 'get_weather', description: 'The weather in a city', input_schema: { type: 'object' as const, properties: { city: { type: 'string' } }, required: ['city'] } }]

  test('a tool_use round trip: tool_use block and stop_reason tool_use, then a tool_result answered', async () => {
    const question = { role: 'user' as const, content: 'What is the weather in Suzhou?' }
    const first = await client.messages.create({ model: 'gpt-4.1', max_tokens: 1000, tools, messages: [question] })
    assert.equal(first.stop_reason, 'tool_use')
    const use = first.content.find((b) => b.type === 'tool_use')
    assert.ok(use && use.type === 'tool_use')
    assert.equal(use.name, 'get_weather')
    assert.deepEqual(use.input, { city: 'Suzhou' })
    assert.match(use.id, /^toolu_[A-Za-z0-9]{20,}$/, "an id of Anthropic's kind")

    const since = stack.sim.state.calls.length
    const second = await client.messages.create({
      model: 'gpt-4.1',
      max_tokens: 1000,
      tools,
      messages: [question, { role: 'assistant', content: first.content }, { role: 'user', content: [{ type: 'tool_result', tool_use_id: use.id, content: [{ type: 'text', text: 'Sunny' }] }] }],
    })
    assert.equal(second.stop_reason, 'end_turn')
    assert.deepEqual(second.content, [{ type: 'text', text: 'From the tools: get_weather → Sunny | 你好🌏' }])
    // Mapped back: the model reads the same call id as over chat completions.
    const internal = `call_${use.id.slice('toolu_'.length)}`
    assert.ok((stack.calls({ endpoint: 'completions', since })[0]!.body as { text: string }).text.includes(`<tool_response id="${internal}" name="get_weather">`))
  })

  test('a tool_result with is_error reaches the model as an error', async () => {
    const since = stack.sim.state.calls.length
    await client.messages.create({
      model: 'gpt-4.1',
      max_tokens: 1000,
      tools,
      messages: [
        { role: 'user', content: 'What is the weather in Suzhou?' },
        { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: { city: 'Suzhou' } }] },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_1', content: 'city unknown', is_error: true }] },
      ],
    })
    assert.match((stack.calls({ endpoint: 'completions', since })[0]!.body as { text: string }).text, /Error: city unknown/)
  })

  test('streamed: input_json_delta builds the tool_use input; finalMessage() holds it', async () => {
    const stream = client.messages.stream({ model: 'gpt-4.1', max_tokens: 1000, tools, tool_choice: { type: 'any' }, messages: [{ role: 'user', content: 'What is the weather in Suzhou?' }] })
    const deltas: string[] = []
    stream.on('streamEvent', (event) => {
      if (event.type === 'content_block_delta') deltas.push(event.delta.type)
    })
    const final = await stream.finalMessage()
    assert.equal(final.stop_reason, 'tool_use')
    const use = final.content.find((b) => b.type === 'tool_use')
    assert.ok(use && use.type === 'tool_use')
    assert.deepEqual(use.input, { city: 'Suzhou' })
    assert.match(use.id, /^toolu_/)
    assert.ok(deltas.includes('input_json_delta'))
  })
})

describe('count_tokens', () => {
  test('answers {input_tokens}: the same estimate usage reports, without calling the platform', async () => {
    const body = { model: 'claude-sonnet-4-5', system: 'You are terse.', messages: [{ role: 'user' as const, content: 'How many tokens is this?' }] }
    await stack.waitForCleanPlatform()
    const since = stack.sim.state.calls.length
    const counted = await client.messages.countTokens(body)
    assert.equal(stack.calls({ since }).length, 0, 'no platform call')
    const message = await client.messages.create({ ...body, max_tokens: 100 })
    assert.deepEqual(counted, { input_tokens: message.usage.input_tokens })
  })
})

describe("errors in Anthropic's shape", () => {
  async function post(path: string, body: unknown, headers: Record<string, string> = { 'x-api-key': KEY }) {
    const response = await fetch(`${stack.adapter.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) })
    return { status: response.status, body: (await response.json()) as { type: string; error: { type: string; message: string } } }
  }

  test('a wrong key: 401 authentication_error (the SDK raises AuthenticationError)', async () => {
    const wrong = new Anthropic({ baseURL: stack.adapter.url, apiKey: 'wrong', maxRetries: 0 })
    await assert.rejects(wrong.messages.create({ model: 'gpt-4.1', max_tokens: 10, messages: [{ role: 'user', content: 'Hi' }] }), (error: InstanceType<typeof Anthropic.AuthenticationError>) => {
      assert.ok(error instanceof Anthropic.AuthenticationError)
      assert.equal(error.status, 401)
      assert.deepEqual(Object.keys(error.error as object).sort(), ['error', 'type'])
      return true
    })
    const { status, body } = await post('/v1/messages', { model: 'gpt-4.1', max_tokens: 10, messages: [{ role: 'user', content: 'Hi' }] }, {})
    assert.equal(status, 401)
    assert.equal(body.type, 'error')
    assert.equal(body.error.type, 'authentication_error')
  })

  const bad: Array<[string, Record<string, unknown>, RegExp]> = [
    ['no max_tokens', { model: 'gpt-4.1', messages: [{ role: 'user', content: 'Hi' }] }, /'max_tokens': is required/],
    ['a bad role', { model: 'gpt-4.1', max_tokens: 10, messages: [{ role: 'robot', content: 'Hi' }] }, /messages\[0\]\.role/],
    ['a server tool', { model: 'gpt-4.1', max_tokens: 10, messages: [{ role: 'user', content: 'Hi' }], tools: [{ type: 'web_search_20250305', name: 'web_search' }] }, /web_search_20250305.*tools\[0\]/],
    ['a document block', { model: 'gpt-4.1', max_tokens: 10, messages: [{ role: 'user', content: [{ type: 'document', source: {} }] }] }, /'document'.*messages\[0\]\.content\[0\]/],
    ['a temperature over 1', { model: 'gpt-4.1', max_tokens: 10, temperature: 1.5, messages: [{ role: 'user', content: 'Hi' }] }, /temperature/],
    [
      'a tool_use without its tool_result (the error names the id the client sent)',
      { model: 'gpt-4.1', max_tokens: 10, messages: [{ role: 'user', content: 'Hi' }, { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_01Abc', name: 'get_weather', input: {} }] }, { role: 'user', content: 'and?' }] },
      /'toolu_01Abc' \(get_weather\) of 'messages\[1\]' have no tool_result block/,
    ],
    [
      'a tool_result that answers no tool_use',
      { model: 'gpt-4.1', max_tokens: 10, messages: [{ role: 'user', content: 'Hi' }, { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_01Zzz', content: 'x' }] }] },
      /'messages\[1\]\.content\[0\]': this tool_result block answers tool_use_id 'toolu_01Zzz'.*follow an assistant message with tool_use blocks/,
    ],
  ]
  for (const [name, body, message] of bad) {
    test(`${name}: 400 invalid_request_error`, async () => {
      const since = stack.sim.state.calls.length
      const response = await post('/v1/messages', body)
      assert.equal(response.status, 400)
      assert.equal(response.body.type, 'error')
      assert.equal(response.body.error.type, 'invalid_request_error')
      assert.match(response.body.error.message, message)
      assert.equal(stack.calls({ endpoint: 'saveSession', since }).length, 0, 'nothing reached the platform')
    })
  }

  test('an unknown route under /v1/messages: 404 not_found_error', async () => {
    const response = await post('/v1/messages/batches', {})
    assert.equal(response.status, 404)
    assert.equal(response.body.error.type, 'not_found_error')
  })

  test('our queue is full: 529 overloaded_error', { timeout: 60_000 }, async (t) => {
    const busy = await startStack({ stopAfter: t, gapMs: 300, overrides: { ADAPTER_API_KEY: KEY, XIPU_QUEUE_MAX: '1' } })
    const busyClient = new Anthropic({ baseURL: busy.adapter.url, apiKey: KEY, maxRetries: 0 })
    const running = Array.from({ length: 2 }, (_, i) => busyClient.messages.create({ model: 'gpt-4.1', max_tokens: 10, messages: [{ role: 'user', content: `busy ${i}` }] }).catch(() => undefined))
    await waitFor('the queue to be full', () => busy.adapter.pacer.depth().request >= 1)
    await assert.rejects(busyClient.messages.create({ model: 'gpt-4.1', max_tokens: 10, messages: [{ role: 'user', content: 'one too many' }] }), (error: InstanceType<typeof Anthropic.APIError>) => {
      assert.equal(error.status, 529)
      assert.equal((error.error as { error: { type: string } }).error.type, 'overloaded_error')
      return true
    })
    await Promise.all(running)
  })

  test('chat completions keeps its OpenAI error shape', async () => {
    const response = await post('/v1/chat/completions', { model: 'gpt-4.1' })
    assert.equal(response.status, 400)
    assert.equal((response.body as unknown as { error: { param: string } }).error.param, 'messages')
  })
})
