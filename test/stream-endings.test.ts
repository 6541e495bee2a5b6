/**
 * How the platform's answers end, and its quiet refusals: `[DONE]` is
 * optional (the result event alone completes an answer, and so does `[DONE]`
 * alone; neither is a truncation); the word filter's empty answer, bare 200
 * and canned sentence end with `finish_reason: "content_filter"` and a log
 * line; `Request Err!` as the whole answer is a 502 `xipu_error`, its text
 * never relayed. Against the simulator, over real sockets, on every surface.
 */
import assert from 'node:assert/strict'
import { format } from 'node:util'
import { describe, test, type TestContext } from 'node:test'
import Anthropic from '@anthropic-ai/sdk'
import { createConsola } from 'consola'
import { FILTER_SENTENCE, type WordFilterReply } from '../lib/simulator/answers.ts'
import { startStack, type StackOptions } from './support/harness.ts'
import { joinDeltas, readRawStream } from './support/sse.ts'

type Completion = { choices: Array<{ message: { content: string | null }; finish_reason: string }>; error?: { code: string; type: string; message: string } }

async function startLoggedStack(t: TestContext, options: StackOptions = {}) {
  const lines: string[] = []
  const log = createConsola({ level: 3, reporters: [{ log: (entry) => lines.push(format(...entry.args)) }] })
  const stack = await startStack({ stopAfter: t, log, ...options })
  return { stack, lines }
}

type AnyStack = Awaited<ReturnType<typeof startStack>>

async function ask(stack: AnyStack, content: string) {
  const response = await stack.postChat({ model: 'gpt-4.1', messages: [{ role: 'user', content }] })
  return { status: response.status, body: (await response.json()) as Completion }
}

async function askStreamed(stack: AnyStack, content: string) {
  const response = await stack.postChat({ model: 'gpt-4.1', stream: true, messages: [{ role: 'user', content }] })
  assert.equal(response.status, 200)
  const raw = await readRawStream(response)
  const finish = raw.chunks.flatMap((c) => c.choices ?? []).map((c) => c.finish_reason).filter(Boolean).at(-1)
  return { raw, text: joinDeltas(raw.chunks.filter((c) => !c.error)).content, finish, error: raw.chunks.find((c) => c.error)?.error }
}

describe('[DONE] is optional', () => {
  for (const [what, ending] of [
    ['without [DONE] (the result event ends it)', { done: false }],
    ['without the result event ([DONE] ends it)', { result: false }],
  ] as const) {
    test(`a stream ${what} is a complete answer, streamed or not`, async (t) => {
      const { stack } = await startLoggedStack(t, { simulator: { streamEnding: ending } })
      const plain = await ask(stack, 'complete without one of them')
      assert.equal(plain.status, 200, JSON.stringify(plain.body))
      assert.match(plain.body.choices[0]!.message.content ?? '', /^Echo from gpt-4\.1: complete without one of them/)
      assert.equal(plain.body.choices[0]!.finish_reason, 'stop')
      const streamed = await askStreamed(stack, 'streamed without one of them')
      assert.match(streamed.text, /^Echo from gpt-4\.1: streamed without one of them .*你好🌏$/)
      assert.equal(streamed.finish, 'stop')
      assert.equal(streamed.raw.doneCount, 1, 'the client still gets its [DONE]')
      await stack.waitForCleanPlatform()
    })
  }

  test('the [[sim:no-done]] directive leaves [DONE] out of one answer; the SDK reads it whole', async (t) => {
    const { stack } = await startLoggedStack(t)
    const stream = await stack.openai.chat.completions.create({ model: 'gpt-4.1', stream: true, messages: [{ role: 'user', content: '[[sim:no-done]] [[sim:long=3000]] go' }] })
    let text = ''
    let finish: string | null = null
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? ''
      finish = chunk.choices[0]?.finish_reason ?? finish
    }
    assert.ok(Buffer.byteLength(text) >= 3000)
    assert.equal(finish, 'stop')
  })

  test('a stream with neither the result event nor [DONE] is truncated: 502, or an error event', async (t) => {
    const { stack } = await startLoggedStack(t, { simulator: { streamEnding: { result: false, done: false } } })
    const plain = await ask(stack, 'cut short')
    assert.equal(plain.status, 502)
    assert.equal(plain.body.error!.code, 'stream_truncated')
    assert.match(plain.body.error!.message, /without \[DONE\] and without its result event/)
    const streamed = await askStreamed(stack, 'cut short, streamed')
    assert.equal(streamed.error?.code, 'stream_truncated')
    assert.equal(streamed.raw.doneCount, 0)
    await stack.waitForCleanPlatform()
  })
})

describe('the word filter', () => {
  const BANNED = 'Tell me about 色情 please'

  for (const [mode, expected] of [
    ['empty', ''],
    ['empty-body', ''],
    ['canned', FILTER_SENTENCE],
  ] as Array<[WordFilterReply, string]>) {
    test(`its ${mode} reply ends with finish_reason content_filter, streamed or not, and the log says so`, async (t) => {
      const { stack, lines } = await startLoggedStack(t, { simulator: { wordFilter: mode } })
      const plain = await ask(stack, BANNED)
      assert.equal(plain.status, 200, JSON.stringify(plain.body))
      assert.equal(plain.body.choices[0]!.message.content, expected)
      assert.equal(plain.body.choices[0]!.finish_reason, 'content_filter')
      const streamed = await askStreamed(stack, `${BANNED}, streamed`)
      assert.equal(streamed.text, expected)
      assert.equal(streamed.finish, 'content_filter')
      assert.equal(streamed.raw.doneCount, 1)
      assert.equal(lines.filter((l) => /The platform filtered the prompt/.test(l)).length, 2, lines.join('\n'))
      // An ordinary answer is not taken for the filter.
      const normal = await ask(stack, 'an ordinary question')
      assert.equal(normal.body.choices[0]!.finish_reason, 'stop')
      await stack.waitForCleanPlatform()
    })
  }

  test('the Messages API says refusal; a stop sequence that cuts everything is still a stop', async (t) => {
    const { stack } = await startLoggedStack(t, { simulator: { wordFilter: 'canned' } })
    const client = new Anthropic({ baseURL: stack.adapter.url, apiKey: 'unused', maxRetries: 0 })
    const message = await client.messages.create({ model: 'gpt-4.1', max_tokens: 100, messages: [{ role: 'user', content: BANNED }] })
    assert.equal(message.stop_reason, 'refusal')
    // Asked for JSON: the filter's sentence is not asked for again (it would answer the same), it is content_filter.
    const since = stack.calls({ endpoint: 'completions' }).length
    const json = await stack.openai.chat.completions.create({ model: 'gpt-4.1', response_format: { type: 'json_object' }, messages: [{ role: 'user', content: `${BANNED} as JSON` }] })
    assert.equal(json.choices[0]!.finish_reason, 'content_filter')
    assert.equal(stack.calls({ endpoint: 'completions' }).length - since, 1, 'the filtered answer was repaired')
    const cut = await stack.openai.chat.completions.create({ model: 'gpt-4.1', stop: ['Echo'], messages: [{ role: 'user', content: 'cut at once' }] })
    assert.equal(cut.choices[0]!.message.content, '')
    assert.equal(cut.choices[0]!.finish_reason, 'stop')
  })
})

describe('Request Err!', () => {
  test('as the whole answer it is a 502 xipu_error, and its text is never relayed', async (t) => {
    const { stack } = await startLoggedStack(t)
    const plain = await ask(stack, '[[sim:request-err]] unreadable')
    assert.equal(plain.status, 502)
    assert.equal(plain.body.error!.code, 'xipu_error')
    assert.match(plain.body.error!.message, /Request Err!.*could not read the prompt/)
    const streamed = await askStreamed(stack, '[[sim:request-err]] unreadable, streamed')
    assert.equal(streamed.error?.code, 'xipu_error')
    assert.equal(streamed.text, '', 'a piece of "Request Err!" was relayed as content')
    assert.equal(streamed.raw.doneCount, 0)
    // Words that merely start like it are an answer.
    const reply = await stack.openai.chat.completions.create({ model: 'gpt-4.1', messages: [{ role: 'user', content: 'Request Err! is what it said' }] })
    assert.match(reply.choices[0]!.message.content ?? '', /Request Err! is what it said/)
    await stack.waitForCleanPlatform()
  })
})
