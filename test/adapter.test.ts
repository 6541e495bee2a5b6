/**
 * The adapter end to end: the official OpenAI SDK → the adapter → the
 * simulated platform, over real sockets.
 */
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { APIError } from 'openai'
import { updateEnvFile } from '../lib/env-file.ts'
import { minCallGap, startStack, type Stack } from './support/stack.ts'

describe('adapter against the simulator', () => {
  let stack: Stack
  before(async () => {
    stack = await startStack()
  })
  after(() => stack.close())

  test('lists the platform catalog and one model', async () => {
    const models = await stack.openai.models.list()
    assert.equal(models.data.length, 21)
    assert.ok(models.data.some((m) => m.id === 'qwen3.6-27b'))
    const one = await stack.openai.models.retrieve('gpt-5.4-nano')
    assert.equal(one.id, 'gpt-5.4-nano')
    await assert.rejects(stack.openai.models.retrieve('no-such-model'), (e: APIError) => e.status === 404)
  })

  test('answers without streaming, with usage, and deletes the session', async () => {
    const reply = await stack.openai.chat.completions.create({ model: 'gpt-4.1', messages: [{ role: 'user', content: 'Hello 世界' }] })
    assert.match(reply.id, /^chatcmpl-/)
    assert.equal(reply.choices[0]?.message.content, 'Echo from gpt-4.1: Hello 世界 | turns 1, history 0 | 你好🌏')
    assert.equal(reply.choices[0]?.finish_reason, 'stop')
    assert.ok(reply.usage && reply.usage.total_tokens === reply.usage.prompt_tokens + reply.usage.completion_tokens && reply.usage.prompt_tokens > 0)
    await stack.settle()
    assert.deepEqual(
      [...stack.sim.state.sessions.values()].filter((s) => !s.name.startsWith('[xipu-openai] ')).map((s) => s.name),
      ['My thesis notes', 'Weekend plans'],
    )
  })

  test('streams in the OpenAI wire format, with reasoning and usage', async () => {
    const response = await fetch(`${stack.adapter.baseURL}/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'DeepSeek-R1', stream: true, stream_options: { include_usage: true }, reasoning_effort: 'high', messages: [{ role: 'user', content: '多字节 ✓ test' }] }),
    })
    assert.equal(response.status, 200)
    assert.match(response.headers.get('content-type') ?? '', /text\/event-stream/)
    const events = (await response.text()).split('\n\n').filter(Boolean).map((e) => e.replace(/^data: /, ''))
    assert.equal(events.at(-1), '[DONE]')
    assert.equal(events.filter((e) => e === '[DONE]').length, 1)
    const chunks = events.slice(0, -1).map((e) => JSON.parse(e) as { id: string; object: string; choices: Array<{ delta: Record<string, string>; finish_reason: string | null }>; usage?: { total_tokens: number } })
    assert.equal(new Set(chunks.map((c) => c.id)).size, 1)
    assert.ok(chunks.every((c) => c.object === 'chat.completion.chunk'))
    assert.equal(chunks[0]?.choices[0]?.delta.role, 'assistant')
    const usage = chunks.at(-1)!
    assert.deepEqual(usage.choices, [])
    assert.ok(usage.usage && usage.usage.total_tokens > 0)
    const last = chunks.at(-2)!
    assert.equal(last.choices[0]?.finish_reason, 'stop')
    assert.ok(chunks.slice(0, -2).every((c) => c.choices[0]?.finish_reason === null))
    const content = chunks.map((c) => c.choices[0]?.delta.content ?? '').join('')
    const reasoning = chunks.map((c) => c.choices[0]?.delta.reasoning_content ?? '').join('')
    assert.equal(content, 'Echo from DeepSeek-R1: 多字节 ✓ test | turns 1, history 0, thinking high | 你好🌏')
    assert.equal(reasoning, 'Thinking about "多字节 ✓ test" (10 chars); 思考中…')
    const sent = stack.sim.state.calls.filter((c) => c.endpoint === 'completions').at(-1)!
    assert.equal((sent.body as { thinking?: string }).thinking, 'high')
    assert.equal(sent.query.sf_request_type, 'fetch')
    await stack.settle()
  })

  test('a multi-turn conversation arrives complete and in order', async () => {
    const stream = await stack.openai.chat.completions.create({
      model: 'gpt-5.4',
      stream: true,
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'First question' },
        { role: 'assistant', content: 'First answer' },
        { role: 'user', content: [{ type: 'text', text: 'Second' }, { type: 'text', text: 'question' }] },
      ],
    })
    let text = ''
    for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? ''
    assert.equal(text, 'Echo from gpt-5.4: Second\nquestion | turns 2, history 0 | 你好🌏')
    const sent = stack.sim.state.calls.filter((c) => c.endpoint === 'completions').at(-1)!
    assert.equal((sent.body as { text: string }).text, 'System:\nBe brief.\n\nUser:\nFirst question\n\nAssistant:\nFirst answer\n\nUser:\nSecond\nquestion')
    await stack.settle()
  })

  test('web search, stop sequences and max_tokens reach the platform', async () => {
    const reply = await stack.openai.chat.completions.create({ model: 'gpt-4.1:online', stop: ['|'], max_tokens: 500, messages: [{ role: 'user', content: 'news' }] })
    assert.equal(reply.choices[0]?.message.content, 'Echo from gpt-4.1: news ')
    assert.equal(reply.model, 'gpt-4.1:online')
    const save = stack.sim.state.calls.filter((c) => c.endpoint === 'saveSession').at(-1)!.body as { model: string; maxToken: number }
    assert.equal(save.model, 'gpt-4.1')
    assert.equal(save.maxToken, 500)
    const sent = stack.sim.state.calls.filter((c) => c.endpoint === 'completions').at(-1)!.body as { online: number }
    assert.equal(sent.online, 1)
    await stack.settle()
  })

  test('bad input gets a 4xx in OpenAI shape and never reaches the platform', async () => {
    const before = stack.sim.state.calls.length
    const cases: Array<[unknown, number, string]> = [
      ['not json', 400, 'body'],
      [[1, 2], 400, 'body'],
      [{ model: 'gpt-4.1' }, 400, 'messages'],
      [{ model: 'gpt-4.1', messages: [] }, 400, 'messages'],
      [{ model: 'gpt-4.1', messages: [{ role: 'wizard', content: 'x' }] }, 400, 'messages[0].role'],
      [{ model: 'gpt-4.1', messages: [{ role: 'user', content: 'x' }], n: 2 }, 400, 'n'],
      [{ model: 'gpt-4.1', messages: [{ role: 'user', content: 'x' }], temperature: 3 }, 400, 'temperature'],
      [{ model: 7, messages: [{ role: 'user', content: 'x' }] }, 400, 'model'],
    ]
    for (const [body, status, param] of cases) {
      const response = await fetch(`${stack.adapter.baseURL}/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: typeof body === 'string' ? body : JSON.stringify(body) })
      assert.equal(response.status, status, JSON.stringify(body))
      const error = ((await response.json()) as { error: { message: string; type: string; param: string; code: string } }).error
      assert.equal(error.param, param)
      assert.ok(error.message.length > 10 && error.type && error.code)
    }
    assert.equal(stack.sim.state.calls.length, before)
  })

  test('a stream cut without [DONE] or an error event is an error, and the session is deleted', async () => {
    for (const directive of ['[[sim:truncate-after=3]]', '[[sim:error-after=3]]']) {
      await assert.rejects(stack.openai.chat.completions.create({ model: 'gpt-4.1', messages: [{ role: 'user', content: `${directive} hi` }] }), (e: APIError) => e.status === 502)
      const stream = await stack.openai.chat.completions.create({ model: 'gpt-4.1', stream: true, messages: [{ role: 'user', content: `${directive} again` }] })
      await assert.rejects(async () => {
        for await (const _ of stream) void _
      })
      await stack.settle()
    }
  })

  test('a client that disconnects mid-stream closes the platform stream and its session', async () => {
    const abortedBefore = stack.sim.state.streamsAborted
    const controller = new AbortController()
    // About 4 s of answer at the simulator's pace: a disconnect must cut it short.
    const stream = await stack.openai.chat.completions.create({ model: 'gpt-4.1', stream: true, messages: [{ role: 'user', content: '[[sim:slow=400]] a slow answer' }] }, { signal: controller.signal })
    let received = ''
    try {
      for await (const chunk of stream) {
        received += chunk.choices[0]?.delta.content ?? ''
        if (received) controller.abort()
      }
    } catch {
      // The SDK may end the iteration or throw on abort: either is fine here.
    }
    await stack.settle()
    for (let i = 0; i < 100 && stack.sim.state.streamsOpen > 0; i++) await new Promise((r) => setTimeout(r, 50))
    assert.equal(stack.sim.state.streamsAborted - abortedBefore, 1)
    assert.equal(stack.sim.state.streamsOpen, 0)
  })
})

describe('adapter at the strict gap', () => {
  let stack: Stack
  before(async () => {
    stack = await startStack({ sim: { minGapMs: 1000 } })
  })
  after(() => stack.close())

  test('8 concurrent requests all succeed with zero platform 429s and no call closer than the gap', async () => {
    const replies = await Promise.all(
      Array.from({ length: 8 }, (_, i) => stack.openai.chat.completions.create({ model: 'gpt-4.1', messages: [{ role: 'user', content: `request ${i}` }] })),
    )
    replies.forEach((r, i) => assert.match(r.choices[0]?.message.content ?? '', new RegExp(`: request ${i} \\|`)))
    await stack.settle(60_000)
    assert.equal(stack.sim.state.rateLimited, 0)
    assert.ok(minCallGap(stack.sim) >= 1000, `calls ${minCallGap(stack.sim)} ms apart`)
  })
})

describe('adapter with an expired token', () => {
  let stack: Stack
  before(async () => {
    stack = await startStack()
  })
  after(() => stack.close())

  test('answers 401 saying to run auth.ts, and a fresh token in .env heals it without a restart', async () => {
    const expired = stack.sim.issueCredentials('demo', -60_000)
    const fresh = stack.sim.issueCredentials()
    // Point this adapter at .env only (no pinned token), as a user's setup is.
    await stack.adapter.close(100)
    updateEnvFile(stack.envFile, { JM_TOKEN: expired.jmToken, SDP_SESSION: expired.sdpSession })
    const { startAdapter } = await import('../lib/adapter-server.ts')
    const adapter = await startAdapter({ port: 0, envFile: stack.envFile, env: {}, overrides: { XIPU_API_BASE: stack.sim.apiBase, XIPU_STATE_DIR: stack.dir, XIPU_MIN_GAP_MS: '100' } })
    try {
      const body = JSON.stringify({ model: 'gpt-4.1', messages: [{ role: 'user', content: 'hi' }] })
      const refused = await fetch(`${adapter.baseURL}/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body })
      assert.equal(refused.status, 401)
      const error = ((await refused.json()) as { error: { message: string; code: string } }).error
      assert.match(error.message, /npx tsx auth\.ts/)
      assert.doesNotMatch(error.message, new RegExp(expired.jmToken.slice(20, 60)))
      updateEnvFile(stack.envFile, { JM_TOKEN: fresh.jmToken, SDP_SESSION: fresh.sdpSession })
      const ok = await fetch(`${adapter.baseURL}/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body })
      assert.equal(ok.status, 200)
    } finally {
      await adapter.close(100)
    }
  })
})
