/**
 * Chat completions end to end: the official SDK → the adapter → the simulated
 * platform, over real sockets. What the client gets (text, ids, usage,
 * reasoning, finish reasons, the exact wire format of streams) and what the
 * platform was sent (session fields, the flattened prompt, online, thinking).
 */
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import type OpenAI from 'openai'
import { flattenMessages } from '../lib/openai/request.ts'
import { createAnswer, countTokens } from '../lib/simulator/answers.ts'
import { startStack, type Stack } from './support/harness.ts'
import { joinDeltas, readRawStream } from './support/sse.ts'

type Message = OpenAI.Chat.Completions.ChatCompletionMessageParam
type ReasoningMessage = OpenAI.Chat.Completions.ChatCompletionMessage & { reasoning_content?: string }
type ReasoningDelta = OpenAI.Chat.Completions.ChatCompletionChunk.Choice.Delta & { reasoning_content?: string }

/** What the simulated model answers to `messages` (the simulator is the oracle). */
function expectedAnswer(model: string, messages: Message[], extra: { online?: boolean; thinking?: string; maxToken?: number } = {}) {
  return createAnswer({
    model,
    text: flattenMessages(messages as Array<{ role: string; content?: unknown }>),
    history: [],
    online: extra.online ?? false,
    thinking: extra.thinking,
    maxToken: extra.maxToken ?? 0,
    files: [],
  })
}

let stack: Stack

before(async () => {
  stack = await startStack({ gapMs: 120 })
})
after(async () => {
  // Everything in this file ran through this one platform: check the record of it all
  // here, so that the check cannot pass by running alone.
  try {
    await stack.waitForCleanPlatform()
    const calls = stack.calls()
    assert.ok(calls.length > 20)
    assert.equal(stack.sim.state.rateLimited, 0, 'no call was refused with 429')
    assert.ok(calls.every((c) => c.status !== 429))
    for (let i = 1; i < calls.length; i++) {
      const gap = calls[i]!.at - calls[i - 1]!.at
      assert.ok(gap >= stack.gapMs, `calls ${i - 1} (${calls[i - 1]!.endpoint}) and ${i} (${calls[i]!.endpoint}) were ${gap.toFixed(1)} ms apart`)
    }
  } finally {
    await stack?.close()
  }
})

/** The platform calls one request made, by endpoint, after checking it cleaned up. */
async function callsOf(since: number) {
  await stack.waitForCleanPlatform()
  const calls = stack.calls({ since })
  const of = (endpoint: string) => calls.filter((c) => c.endpoint === endpoint)
  return { calls, saves: of('saveSession'), completions: of('completions'), deletes: of('delSession') }
}

describe('non-streaming', () => {
  test('answers with a chat.completion, and the platform saw one stateless session created, used and kept in the pool', async () => {
    const since = stack.sim.state.calls.length
    const reply = await stack.openai.chat.completions.create({ model: 'gpt-4.1', messages: [{ role: 'user', content: 'Hello' }] })

    assert.equal(reply.object, 'chat.completion')
    assert.match(reply.id, /^chatcmpl-/)
    assert.equal(reply.model, 'gpt-4.1')
    assert.equal(reply.choices.length, 1)
    const [choice] = reply.choices
    assert.equal(choice!.index, 0)
    assert.equal(choice!.message.role, 'assistant')
    assert.equal(choice!.message.content, 'Echo from gpt-4.1: Hello | turns 1, history 0 | 你好🌏')
    assert.equal(choice!.finish_reason, 'stop')

    const { saves, completions, deletes } = await callsOf(since)
    assert.equal(saves.length, 1)
    assert.equal(completions.length, 1)
    assert.equal(deletes.length, 0, 'kept for the next request')
    const save = saves[0]!.body as Record<string, unknown>
    assert.equal(save.model, 'gpt-4.1')
    assert.equal(save.maxToken, 0, 'no max_tokens: no limit')
    assert.equal(save.id, undefined, 'a new session, not an update')
    assert.equal(save.contextCount, 0, 'stateless: no history fed back')
    assert.equal(save.prompt, '', 'and no system prompt')
    const sent = completions[0]!.body as Record<string, unknown>
    assert.equal(sent.text, 'User:\nHello')
    assert.deepEqual(sent.files, [])
    assert.equal(sent.online, 0)
    assert.equal(sent.thinking, undefined)
    assert.equal(completions[0]!.query.sf_request_type, 'fetch')
    assert.equal(typeof sent.sessionId, 'string')
    // As the web client sends it, and uncompressed: no gateway buffering a compressed stream.
    const headers = completions[0]!.headers
    assert.equal(headers.accept, 'text/event-stream')
    assert.equal(headers['accept-encoding'], 'identity')
    assert.equal(headers.origin, 'https://xipuai.xjtlu.edu.cn')
    assert.equal(headers.referer, 'https://xipuai.xjtlu.edu.cn/')
    assert.ok(stack.adapter.sessions.pool.freeIds().includes(Number(sent.sessionId)), 'the session that answered is back in the pool')
  })

  test('reports usage: the platform counts, adding up', async () => {
    const messages: Message[] = [{ role: 'user', content: 'Count my tokens, please.' }]
    const reply = await stack.openai.chat.completions.create({ model: 'gpt-4.1', messages })
    const answer = expectedAnswer('gpt-4.1', messages)
    assert.ok(reply.usage)
    assert.equal(reply.usage.prompt_tokens, countTokens(flattenMessages(messages as never)))
    assert.equal(reply.usage.completion_tokens, countTokens(answer.text))
    assert.equal(reply.usage.total_tokens, reply.usage.prompt_tokens + reply.usage.completion_tokens)
  })

  test('passes session parameters to saveSession: temperature, penalties, max_tokens → maxToken', async () => {
    const since = stack.sim.state.calls.length
    const reply = await stack.openai.chat.completions.create({
      model: 'gpt-4.1',
      messages: [{ role: 'user', content: 'Parameters' }],
      temperature: 0.25,
      presence_penalty: 0.5,
      frequency_penalty: -0.5,
      max_tokens: 512,
    })
    assert.ok(reply.choices[0]!.message.content)
    const { saves } = await callsOf(since)
    assert.deepEqual(
      (({ model, temperature, maxToken, presencePenalty, frequencyPenalty }) => ({ model, temperature, maxToken, presencePenalty, frequencyPenalty }))(saves[0]!.body as Record<string, unknown>),
      { model: 'gpt-4.1', temperature: 0.25, maxToken: 512, presencePenalty: 0.5, frequencyPenalty: -0.5 },
    )
  })

  test('max_tokens cuts the answer on the platform and finish_reason says length', async () => {
    const since = stack.sim.state.calls.length
    const messages: Message[] = [{ role: 'user', content: 'Say something long enough to be cut off' }]
    const reply = await stack.openai.chat.completions.create({ model: 'gpt-4.1', messages, max_tokens: 5 })
    assert.equal(reply.choices[0]!.message.content, expectedAnswer('gpt-4.1', messages, { maxToken: 5 }).text)
    assert.equal(reply.choices[0]!.finish_reason, 'length')
    const { saves } = await callsOf(since)
    assert.equal((saves[0]!.body as Record<string, unknown>).maxToken, 5)
  })

  test('max_completion_tokens maps to maxToken too', async () => {
    const since = stack.sim.state.calls.length
    await stack.openai.chat.completions.create({ model: 'gpt-4.1', messages: [{ role: 'user', content: 'hi' }], max_completion_tokens: 77 })
    const { saves } = await callsOf(since)
    assert.equal((saves[0]!.body as Record<string, unknown>).maxToken, 77)
  })

  test('an unknown model id passes through to the platform', async () => {
    const since = stack.sim.state.calls.length
    const reply = await stack.openai.chat.completions.create({ model: 'my-private-model-9', messages: [{ role: 'user', content: 'Who are you?' }] })
    assert.equal(reply.model, 'my-private-model-9')
    assert.match(reply.choices[0]!.message.content ?? '', /^Echo from my-private-model-9: Who are you\?/)
    const { saves } = await callsOf(since)
    assert.equal((saves[0]!.body as Record<string, unknown>).model, 'my-private-model-9')
  })

  test('uses the final result event when the platform streamed no pieces', async () => {
    const messages: Message[] = [{ role: 'user', content: 'Only the result, please [[sim:no-pieces]]' }]
    const reply = await stack.openai.chat.completions.create({ model: 'o3', messages })
    const answer = expectedAnswer('o3', messages)
    const message = reply.choices[0]!.message as ReasoningMessage
    assert.equal(message.content, answer.text)
    assert.equal(message.reasoning_content, answer.reasoning)
  })
})

describe('a multi-turn conversation', () => {
  const messages: Message[] = [
    { role: 'system', content: 'You are terse.' },
    { role: 'user', content: 'First question: what is 2+2?' },
    { role: 'assistant', content: 'Four.' },
    { role: 'user', content: [{ type: 'text', text: 'Second question,' }, { type: 'text', text: 'in two parts.' }] },
    { role: 'assistant', content: 'Go on.' },
    { role: 'developer', content: 'Answer in English.' },
    { role: 'user', content: 'Third: and 3+3?' },
  ]

  test('arrives at the platform complete and in order, as one flattened prompt', async () => {
    const since = stack.sim.state.calls.length
    const reply = await stack.openai.chat.completions.create({ model: 'gpt-4.1', messages })
    const { completions } = await callsOf(since)
    const text = (completions[0]!.body as { text: string }).text
    assert.equal(
      text,
      [
        'System:\nYou are terse.',
        'User:\nFirst question: what is 2+2?',
        'Assistant:\nFour.',
        'User:\nSecond question,\nin two parts.',
        'Assistant:\nGo on.',
        'System:\nAnswer in English.',
        'User:\nThird: and 3+3?',
      ].join('\n\n'),
    )
    // The model saw three user turns and no server-side history (a fresh session).
    assert.equal(reply.choices[0]!.message.content, 'Echo from gpt-4.1: Third: and 3+3? | turns 3, history 0 | 你好🌏')
  })

  test('streams the same answer', async () => {
    const stream = await stack.openai.chat.completions.create({ model: 'gpt-4.1', messages, stream: true })
    let content = ''
    for await (const chunk of stream) content += chunk.choices[0]?.delta.content ?? ''
    assert.equal(content, expectedAnswer('gpt-4.1', messages).text)
  })

  test('no history leaks between requests', async () => {
    const first = await stack.openai.chat.completions.create({ model: 'gpt-4.1', messages: [{ role: 'user', content: 'one' }] })
    const second = await stack.openai.chat.completions.create({ model: 'gpt-4.1', messages: [{ role: 'user', content: 'two' }] })
    assert.match(first.choices[0]!.message.content ?? '', /history 0/)
    assert.match(second.choices[0]!.message.content ?? '', /history 0/)
    await stack.waitForCleanPlatform()
  })
})

describe('streaming', () => {
  test('with the SDK: one id, role first, finish_reason on the last choice chunk, text intact', async () => {
    const messages: Message[] = [{ role: 'user', content: 'Stream me' }]
    const stream = await stack.openai.chat.completions.create({ model: 'gpt-4.1', messages, stream: true })
    const chunks: OpenAI.Chat.Completions.ChatCompletionChunk[] = []
    for await (const chunk of stream) chunks.push(chunk)

    assert.ok(chunks.length > 2, 'the answer came in pieces')
    assert.equal(new Set(chunks.map((c) => c.id)).size, 1)
    assert.match(chunks[0]!.id, /^chatcmpl-/)
    assert.ok(chunks.every((c) => c.object === 'chat.completion.chunk' && c.model === 'gpt-4.1'))
    assert.equal(chunks[0]!.choices[0]!.delta.role, 'assistant')
    assert.ok(chunks.slice(1).every((c) => c.choices[0]!.delta.role === undefined), 'role only in the first delta')
    const finishes = chunks.map((c) => c.choices[0]!.finish_reason)
    assert.equal(finishes.at(-1), 'stop')
    assert.ok(finishes.slice(0, -1).every((f) => f === null))
    assert.equal(chunks.map((c) => c.choices[0]!.delta.content ?? '').join(''), expectedAnswer('gpt-4.1', messages).text)
    assert.ok(chunks.every((c) => !c.usage), 'no usage unless asked for')
    await stack.waitForCleanPlatform()
  })

  test('on the wire: exactly OpenAI\'s format, [DONE] once and last', async () => {
    const messages: Message[] = [{ role: 'user', content: 'Raw bytes, please' }]
    const response = await stack.postChat({ model: 'gpt-4.1', messages, stream: true })
    assert.equal(response.status, 200)
    assert.match(response.headers.get('content-type') ?? '', /^text\/event-stream/)
    const raw = await readRawStream(response)

    assert.equal(raw.doneCount, 1)
    assert.equal(raw.payloads.at(-1), '[DONE]')
    assert.ok(raw.chunks.every((c) => !c.error), 'no error events')
    assert.equal(new Set(raw.chunks.map((c) => c.id)).size, 1, 'one id for every chunk')
    assert.match(raw.chunks[0]!.id, /^chatcmpl-/)
    assert.ok(raw.chunks.every((c) => c.object === 'chat.completion.chunk' && typeof c.created === 'number' && c.model === 'gpt-4.1'))
    assert.ok(raw.chunks.every((c) => c.choices.length === 1 && c.choices[0]!.index === 0))
    assert.deepEqual(raw.chunks[0]!.choices[0]!.delta.role, 'assistant')
    assert.ok(raw.chunks.slice(1).every((c) => !('role' in c.choices[0]!.delta)))
    const finishes = raw.chunks.map((c) => c.choices[0]!.finish_reason)
    assert.equal(finishes.at(-1), 'stop', 'finish_reason on the last choice chunk')
    assert.ok(finishes.slice(0, -1).every((f) => f === null), 'and on no other')
    assert.ok(raw.chunks.every((c) => c.usage === undefined))
    assert.equal(joinDeltas(raw.chunks).content, expectedAnswer('gpt-4.1', messages).text)
    await stack.waitForCleanPlatform()
  })

  test('stream_options.include_usage adds one final usage chunk with empty choices', async () => {
    const messages: Message[] = [{ role: 'user', content: 'Usage in a stream' }]
    const response = await stack.postChat({ model: 'gpt-4.1', messages, stream: true, stream_options: { include_usage: true } })
    const raw = await readRawStream(response)
    assert.equal(raw.doneCount, 1)
    assert.equal(raw.payloads.at(-1), '[DONE]')
    const last = raw.chunks.at(-1)!
    assert.deepEqual(last.choices, [])
    assert.ok(last.usage)
    assert.equal(last.usage.prompt_tokens, countTokens(flattenMessages(messages as never)))
    assert.equal(last.usage.completion_tokens, countTokens(expectedAnswer('gpt-4.1', messages).text))
    assert.equal(last.usage.total_tokens, last.usage.prompt_tokens + last.usage.completion_tokens)
    assert.equal(raw.chunks.filter((c) => c.usage).length, 1, 'usage only once')
    assert.equal(new Set(raw.chunks.map((c) => c.id)).size, 1)
    assert.equal(raw.chunks.at(-2)!.choices[0]!.finish_reason, 'stop', 'the finish chunk comes right before usage')

    // The SDK sees it too.
    const stream = await stack.openai.chat.completions.create({ model: 'gpt-4.1', messages, stream: true, stream_options: { include_usage: true } })
    let usage: OpenAI.CompletionUsage | undefined | null
    for await (const chunk of stream) if (chunk.usage) usage = chunk.usage
    assert.deepEqual(usage, last.usage)
  })

  test('a stop sequence split across pieces cuts the streamed text', async () => {
    const messages: Message[] = [{ role: 'user', content: 'Stop here | please' }]
    const stream = await stack.openai.chat.completions.create({ model: 'gpt-4.1', messages, stream: true, stop: [' | turns', 'never appears'] })
    let content = ''
    let finish: string | null | undefined
    for await (const chunk of stream) {
      content += chunk.choices[0]?.delta.content ?? ''
      finish = chunk.choices[0]?.finish_reason ?? finish
    }
    assert.equal(content, 'Echo from gpt-4.1: Stop here | please')
    assert.equal(finish, 'stop')
    await stack.waitForCleanPlatform()
  })
})

describe('stop sequences (non-streaming)', () => {
  test('cut the text where the first one starts', async () => {
    const reply = await stack.openai.chat.completions.create({ model: 'gpt-4.1', messages: [{ role: 'user', content: 'abc' }], stop: '你好' })
    assert.equal(reply.choices[0]!.message.content, 'Echo from gpt-4.1: abc | turns 1, history 0 | ')
    assert.equal(reply.choices[0]!.finish_reason, 'stop')
    await stack.waitForCleanPlatform()
  })
})

describe('reasoning', () => {
  test('a reasoning model\'s thinking comes as reasoning_content, before the content, in a stream', async () => {
    const messages: Message[] = [{ role: 'user', content: 'Think about it' }]
    const stream = await stack.openai.chat.completions.create({ model: 'DeepSeek-R1', messages, stream: true })
    const order: Array<'reasoning' | 'content'> = []
    let reasoning = ''
    let content = ''
    for await (const chunk of stream) {
      const delta = chunk.choices[0]?.delta as ReasoningDelta | undefined
      if (delta?.reasoning_content) {
        reasoning += delta.reasoning_content
        if (order.at(-1) !== 'reasoning') order.push('reasoning')
      }
      if (delta?.content) {
        content += delta.content
        if (order.at(-1) !== 'content') order.push('content')
      }
    }
    const answer = expectedAnswer('DeepSeek-R1', messages)
    assert.ok(answer.reasoning.length > 0)
    assert.equal(reasoning, answer.reasoning)
    assert.equal(content, answer.text)
    assert.deepEqual(order, ['reasoning', 'content'])
  })

  test('non-streaming: message.reasoning_content, and usage counts it', async () => {
    const messages: Message[] = [{ role: 'user', content: 'Reason, then answer' }]
    const reply = await stack.openai.chat.completions.create({ model: 'o3', messages })
    const answer = expectedAnswer('o3', messages)
    const message = reply.choices[0]!.message as ReasoningMessage
    assert.equal(message.reasoning_content, answer.reasoning)
    assert.equal(message.content, answer.text)
    assert.equal(reply.usage!.completion_tokens, countTokens(answer.text) + countTokens(answer.reasoning))
  })

  test('a plain model has no reasoning_content', async () => {
    const reply = await stack.openai.chat.completions.create({ model: 'gpt-4.1', messages: [{ role: 'user', content: 'plain' }] })
    assert.equal((reply.choices[0]!.message as ReasoningMessage).reasoning_content, undefined)
  })

  test('reasoning_effort maps to thinking in the completions body', async () => {
    const since = stack.sim.state.calls.length
    const messages: Message[] = [{ role: 'user', content: 'Think hard' }]
    const reply = await stack.openai.chat.completions.create({ model: 'gpt-5.4', messages, reasoning_effort: 'high' })
    const { completions } = await callsOf(since)
    assert.equal((completions[0]!.body as Record<string, unknown>).thinking, 'high')
    assert.equal(reply.choices[0]!.message.content, expectedAnswer('gpt-5.4', messages, { thinking: 'high' }).text)
    assert.match(reply.choices[0]!.message.content ?? '', /thinking high/)
  })
})

describe('web search', () => {
  test('web_search_options sets online=1', async () => {
    const since = stack.sim.state.calls.length
    const reply = await stack.openai.chat.completions.create({ model: 'gpt-4.1', messages: [{ role: 'user', content: 'News?' }], web_search_options: {} })
    const { saves, completions } = await callsOf(since)
    assert.equal((completions[0]!.body as Record<string, unknown>).online, 1)
    assert.equal((saves[0]!.body as Record<string, unknown>).model, 'gpt-4.1')
    assert.match(reply.choices[0]!.message.content ?? '', /web search on/)
  })

  test('the :online suffix sets online=1 and the session model goes without it', async () => {
    const since = stack.sim.state.calls.length
    const reply = await stack.openai.chat.completions.create({ model: 'gpt-4.1:online', messages: [{ role: 'user', content: 'Weather?' }] })
    assert.equal(reply.model, 'gpt-4.1:online', 'the client sees the id it asked for')
    assert.match(reply.choices[0]!.message.content ?? '', /^Echo from gpt-4\.1: Weather\?.*web search on/)
    const { completions } = await callsOf(since)
    const sent = completions[0]!.body as Record<string, unknown>
    assert.equal(stack.sim.state.sessions.get(Number(sent.sessionId))?.model, 'gpt-4.1')
    assert.equal(sent.online, 1)
  })
})

describe('UTF-8', () => {
  // CJK, emoji (surrogate pairs), combining marks and 4-byte math letters: the
  // simulator cuts its bytes at random offsets, inside characters too.
  const text = '多字节文字：日本語テキスト🎌、한국어, Ünïcödé e\u0301, 𝕏𝕐ℤ, 👩‍👩‍👧‍👦 — end'

  test('arrives intact, streamed and not', async () => {
    const messages: Message[] = [{ role: 'user', content: `${text}\n${text}` }]
    const expected = expectedAnswer('qwen3.6-27b', messages).text
    assert.ok(expected.includes(text))

    const reply = await stack.openai.chat.completions.create({ model: 'qwen3.6-27b', messages })
    assert.equal(reply.choices[0]!.message.content, expected)

    const raw = await readRawStream(await stack.postChat({ model: 'qwen3.6-27b', messages, stream: true }))
    assert.equal(joinDeltas(raw.chunks).content, expected)
    assert.ok(!raw.text.includes('\uFFFD'), 'no replacement characters on the wire')
  })

  test('a long multibyte answer arrives byte for byte', async () => {
    const messages: Message[] = [{ role: 'user', content: 'Long one [[sim:long=60000]]' }]
    const expected = expectedAnswer('gpt-4.1', messages).text
    assert.ok(Buffer.byteLength(expected) >= 60_000)
    const stream = await stack.openai.chat.completions.create({ model: 'gpt-4.1', messages, stream: true })
    let content = ''
    for await (const chunk of stream) content += chunk.choices[0]?.delta.content ?? ''
    assert.equal(content.length, expected.length)
    assert.equal(content, expected)
    await stack.waitForCleanPlatform()
  })
})
