/**
 * Many requests at once and one after another: the one pacer keeps every
 * platform call at least the gap apart, so the platform never answers 429;
 * every client gets its own answer (no crossed sessions); no session is left
 * behind. One suite runs at the real platform's strict one-second gap.
 */
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import type OpenAI from 'openai'
import { startStack, type Stack } from './support/harness.ts'
import { measureSmallestGap, readSessionId } from './support/platform.ts'

/** One request, streamed or not; resolves to the answer text. */
async function ask(openai: OpenAI, content: string, stream: boolean, model = 'gpt-4.1'): Promise<string> {
  if (!stream) {
    const reply = await openai.chat.completions.create({ model, messages: [{ role: 'user', content }] })
    return reply.choices[0]!.message.content ?? ''
  }
  const chunks = await openai.chat.completions.create({ model, messages: [{ role: 'user', content }], stream: true })
  let text = ''
  for await (const chunk of chunks) text += chunk.choices[0]?.delta.content ?? ''
  return text
}

/** Asserts the platform never saw two calls closer than the gap, and never answered 429. */
function assertPaced(stack: Stack, minGapMs: number): void {
  const calls = stack.calls()
  assert.equal(stack.sim.state.rateLimited, 0, 'the platform refused no call as too fast')
  assert.ok(calls.every((c) => c.status !== 429))
  const gap = measureSmallestGap(calls)
  assert.ok(gap >= minGapMs, `two platform calls came ${gap.toFixed(1)} ms apart (gap ${minGapMs} ms)`)
}

describe('at the strict 1000 ms gap of the real platform', () => {
  let stack: Stack
  before(async () => {
    stack = await startStack({ gapMs: 1000 })
  })
  after(async () => {
    await stack?.close()
  })

  test('8 concurrent requests (streamed and not) all succeed, each with its own answer, with zero 429s', async () => {
    const prompts = Array.from({ length: 8 }, (_, i) => `concurrent request number ${i} 并发`)
    const answers = await Promise.all(prompts.map((p, i) => ask(stack.openai, p, i % 2 === 0)))
    answers.forEach((answer, i) => assert.equal(answer, `Echo from gpt-4.1: ${prompts[i]} | turns 1, history 0 | 你好🌏`))

    await stack.waitForCleanPlatform()
    const calls = stack.calls()
    assert.equal(calls.filter((c) => c.endpoint === 'completions').length, 8)
    // Served from the pool of stateless sessions: each session created once, none more than XIPU_POOL_MAX.
    const used = new Set(calls.filter((c) => c.endpoint === 'completions').map(readSessionId))
    assert.equal(calls.filter((c) => c.endpoint === 'saveSession').length, used.size)
    assert.ok(used.size <= 8)
    assertPaced(stack, 1000)
    await stack.adapter.close(2000)
    assert.deepEqual(stack.adapterSessions(), [], 'all deleted at shutdown')
  })
})

test("the gap after a completion counts from when its request went out, not from the model's first token", async (t) => {
  const GAP_MS = 1000
  // A long first token keeps the two readings far apart (about 1 s against at least 4 s), so a loaded machine's stalls cannot blur them.
  const FIRST_TOKEN_MS = 3000
  // One fresh session a request, so that a call (the second's saveSession) waits right behind the first completion.
  const stack = await startStack({ gapMs: GAP_MS, stopAfter: t, reuse: false, simulator: { firstByteDelayMs: FIRST_TOKEN_MS } })
  await Promise.all([ask(stack.openai, 'first', true), ask(stack.openai, 'second', true)])
  const calls = stack.calls()
  const firstCompletion = calls.find((c) => c.endpoint === 'completions')!
  const next = calls[calls.indexOf(firstCompletion) + 1]!
  assert.equal(next.endpoint, 'saveSession', 'the second request\'s session comes right after the first completion')
  // Counted from the reply, the next call could not come before the first token plus the gap.
  assert.ok(next.at - firstCompletion.at < FIRST_TOKEN_MS + GAP_MS, `the next call waited for the first token: ${Math.round(next.at - firstCompletion.at)} ms`)
  assertPaced(stack, GAP_MS)
})

describe('at a short gap', () => {
  let stack: Stack
  before(async () => {
    stack = await startStack({ gapMs: 150 })
  })
  after(async () => {
    await stack?.close()
  })

  test('back-to-back requests all succeed with zero 429s', async () => {
    for (let i = 0; i < 6; i++) {
      const answer = await ask(stack.openai, `back to back ${i}`, i % 2 === 1)
      assert.equal(answer, `Echo from gpt-4.1: back to back ${i} | turns 1, history 0 | 你好🌏`)
    }
    await stack.waitForCleanPlatform()
    assertPaced(stack, 150)
  })

  test('16 concurrent requests over different models, with models listed meanwhile', async () => {
    const models = ['gpt-4.1', 'o3', 'qwen3.6-27b', 'unlisted-model']
    const jobs = Array.from({ length: 16 }, (_, i) => {
      const model = models[i % models.length]!
      const content = `job ${i} on ${model}`
      return ask(stack.openai, content, i % 3 !== 0, model).then((answer) => ({ model, content, answer }))
    })
    const listing = stack.openai.models.list()
    const results = await Promise.all(jobs)
    for (const { model, content, answer } of results) assert.equal(answer, `Echo from ${model}: ${content} | turns 1, history 0 | 你好🌏`)
    assert.equal((await listing).data.length, 21)
    await stack.waitForCleanPlatform()
    assertPaced(stack, 150)
  })

  test('a client that leaves while others stream does not disturb them', async () => {
    const controller = new AbortController()
    const leaving = (async () => {
      const stream = await stack.openai.chat.completions.create(
        { model: 'gpt-4.1', messages: [{ role: 'user', content: 'leaving [[sim:long=20000]] [[sim:slow=10]]' }], stream: true },
        { signal: controller.signal },
      )
      for await (const chunk of stream) if (chunk.choices[0]?.delta.content) controller.abort()
    })()
    const staying = Array.from({ length: 4 }, (_, i) => ask(stack.openai, `staying ${i}`, true))
    await leaving
    const answers = await Promise.all(staying)
    answers.forEach((a, i) => assert.equal(a, `Echo from gpt-4.1: staying ${i} | turns 1, history 0 | 你好🌏`))
    await stack.waitForCleanPlatform()
    assertPaced(stack, 150)
  })
})
