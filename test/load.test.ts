/**
 * Load: many clients share the one paced queue. Every request is answered in
 * full and in arrival order with no platform 429; past the queue bound, 429
 * with Retry-After at once; too long in the queue, a timeout error.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { APIError } from 'openai'
import { createAnswer } from '../lib/simulator/answers.ts'
import { startStack } from './support/harness.ts'
import { measureSmallestGap, readSessionId } from './support/platform.ts'
import { waitFor } from './support/wait-for.ts'

const STRICT_GAP_MS = 1000 // the platform's own limit, and the simulator's strictest setting
const CLIENTS = 12

test(`${CLIENTS} concurrent streaming clients share one paced queue at the strict gap`, { timeout: 180_000 }, async (t) => {
  const stack = await startStack({ stopAfter: t, gapMs: STRICT_GAP_MS, readySession: true })
  const { sim, adapter, openai } = stack

  const prompts = Array.from({ length: CLIENTS }, (_, i) => `Client ${i + 1} of ${CLIENTS}: 你好`)
  const results: Array<Promise<{ content: string; finish: string | null | undefined; chunks: number }>> = []
  for (const [i, prompt] of prompts.entries()) {
    results.push(
      (async () => {
        const stream = await openai.chat.completions.create({ model: 'gpt-4.1', stream: true, messages: [{ role: 'user', content: prompt }] })
        let content = ''
        let finish: string | null | undefined
        let chunks = 0
        for await (const chunk of stream) {
          chunks++
          content += chunk.choices[0]?.delta.content ?? ''
          finish = chunk.choices[0]?.finish_reason ?? finish
        }
        return { content, finish, chunks }
      })(),
    )
    // Arrival order is the order the adapter queued them: wait until this one waits
    // for (or has taken) its first platform turn before the next client connects.
    await waitFor(`client ${i + 1} to reach the queue`, () => adapter.pacer.callCount() + adapter.pacer.depth().request >= i + 1)
  }

  const answers = await Promise.all(results)
  for (const [i, answer] of answers.entries()) {
    const expected = createAnswer({ model: 'gpt-4.1', text: `User:\n${prompts[i]}`, history: [], online: false, maxToken: 0, files: [] }).text
    assert.equal(answer.content, expected, `client ${i + 1} got its whole answer`)
    assert.equal(answer.finish, 'stop')
  }

  // Zero 429s from the platform, and no two calls closer than the gap.
  assert.equal(sim.state.rateLimited, 0, 'the platform answered 429')
  assert.deepEqual(sim.state.calls.filter((c) => c.status !== 200).map((c) => `${c.endpoint} ${c.status}`), [])
  assert.ok(measureSmallestGap(sim.state.calls) >= STRICT_GAP_MS, `two platform calls only ${measureSmallestGap(sim.state.calls).toFixed(1)} ms apart`)

  // In arrival order: the completions calls went out in the order the clients connected.
  const order = stack.calls({ endpoint: 'completions' }).map((c) => prompts.findIndex((p) => (c.body as { text: string }).text.includes(p)))
  assert.deepEqual(order, prompts.map((_, i) => i))
  // …sharing the pool of stateless sessions: at most XIPU_POOL_MAX of them, each created once.
  const sessions = new Set(stack.calls({ endpoint: 'completions' }).map(readSessionId))
  assert.ok(sessions.size <= 8, `${sessions.size} sessions`)
  assert.equal(stack.calls({ endpoint: 'saveSession' }).length, sessions.size)

  // No session left afterwards; the user's own chats untouched.
  await adapter.close(5000)
  assert.deepEqual(stack.adapterSessions(), [])
  assert.deepEqual(stack.userChats().sort(), [...stack.webChats].sort())
  assert.equal(sim.state.streamsOpen, 0)
})

test('past the queue bound: 429 with Retry-After at once, and every admitted request completes', { timeout: 60_000 }, async (t) => {
  const QUEUE_MAX = 2
  const REQUESTS = 8
  const stack = await startStack({ stopAfter: t, gapMs: 200, overrides: { XIPU_QUEUE_MAX: String(QUEUE_MAX) } })
  const { adapter } = stack

  const settled: string[] = [] // 'ok' or 'refused', in the order the responses came
  const replies = await Promise.all(
    Array.from({ length: REQUESTS }, async (_, i) => {
      const response = await stack.postChat({ model: 'gpt-4.1', messages: [{ role: 'user', content: `request ${i}` }] })
      const body = (await response.json()) as { error?: { type: string; code: string; message: string }; choices?: Array<{ message: { content: string } }> }
      settled.push(response.status === 200 ? 'ok' : 'refused')
      return { i, status: response.status, retryAfter: response.headers.get('retry-after'), body }
    }),
  )

  const refused = replies.filter((r) => r.status !== 200)
  const answered = replies.filter((r) => r.status === 200)
  assert.ok(refused.length > 0, 'no request was refused past the bound')
  assert.ok(answered.length > 0, 'no request was answered')
  for (const r of refused) {
    assert.equal(r.status, 429)
    assert.ok(Number.isInteger(Number(r.retryAfter)) && Number(r.retryAfter) >= 1, `Retry-After: ${r.retryAfter}`)
    assert.equal(r.body.error?.type, 'rate_limit_error')
    assert.equal(r.body.error?.code, 'queue_full')
    assert.match(r.body.error?.message ?? '', /XIPU_QUEUE_MAX=2/)
  }
  // "At once": every refusal came back before the first answer, not after waiting in line.
  assert.deepEqual(settled, [...refused.map(() => 'refused'), ...answered.map(() => 'ok')])

  // Admitted requests are answered in full and never refused halfway: no refused request
  // reached the platform, and no session was made for nothing.
  for (const r of answered) assert.match(r.body.choices?.[0]?.message.content ?? '', new RegExp(`^Echo from gpt-4\\.1: request ${r.i} `))
  const sent = stack.calls({ endpoint: 'completions' }).map((c) => (c.body as { text: string }).text)
  for (const r of refused) assert.ok(!sent.some((text) => text.endsWith(`request ${r.i}`)), `refused request ${r.i} reached the platform`)
  assert.ok(stack.calls({ endpoint: 'saveSession' }).length <= answered.length)
  assert.equal(stack.sim.state.rateLimited, 0)
  await stack.waitForCleanPlatform()
  await waitFor('no request running', () => adapter.sessions.activeCount() === 0)
})

test('the SDK sees the same 429 while the queue is full', { timeout: 60_000 }, async (t) => {
  // At the strict gap the full queue stays full for about a second after it filled,
  // far longer than the next request takes to arrive, even on a loaded machine.
  const QUEUE_MAX = 2
  const stack = await startStack({ stopAfter: t, gapMs: STRICT_GAP_MS, overrides: { XIPU_QUEUE_MAX: String(QUEUE_MAX) } })
  const { adapter } = stack
  const busy = Array.from({ length: QUEUE_MAX + 1 }, (_, i) => stack.openai.chat.completions.create({ model: 'gpt-4.1', messages: [{ role: 'user', content: `busy ${i}` }] }))
  await waitFor('the queue to be full', () => adapter.pacer.depth().request >= QUEUE_MAX)
  await assert.rejects(
    stack.openai.chat.completions.create({ model: 'gpt-4.1', messages: [{ role: 'user', content: 'one too many' }] }),
    (error: APIError) => error.status === 429 && error.code === 'queue_full' && /XIPU_QUEUE_MAX=2/.test(error.message),
  )
  // The requests that filled the queue are answered in full (the third one too, unless
  // a call of the adapter's own start was still pacing the first: then it met the bound).
  const settled = await Promise.allSettled(busy)
  assert.ok(settled.filter((r) => r.status === 'fulfilled').length >= QUEUE_MAX)
  for (const [i, r] of settled.entries()) {
    if (r.status === 'fulfilled') assert.match(r.value.choices[0]?.message.content ?? '', new RegExp(`^Echo from gpt-4\\.1: busy ${i} `))
    else assert.ok(r.reason instanceof APIError && r.reason.status === 429 && r.reason.code === 'queue_full', String(r.reason))
  }
  assert.equal(stack.sim.state.rateLimited, 0)
  await stack.waitForCleanPlatform()
  await waitFor('no request running', () => adapter.sessions.activeCount() === 0)
})

test('a request that waits too long in the queue gets a timeout error, not a hang', { timeout: 60_000 }, async (t) => {
  // 12 requests need about 15 calls, 7.5 s at this gap: those at the back wait past the 3 s bound,
  // while the first are answered with seconds to spare even on a loaded machine.
  const stack = await startStack({ stopAfter: t, gapMs: 500, overrides: { XIPU_QUEUE_TIMEOUT_MS: '3000' } })
  const { adapter, openai } = stack

  const outcomes = await Promise.all(
    Array.from({ length: 12 }, (_, i) =>
      openai.chat.completions
        .create({ model: 'gpt-4.1', messages: [{ role: 'user', content: `queued ${i}` }] })
        .then(() => 'answered')
        .catch((error: APIError) => {
          assert.equal(error.status, 504, String(error))
          assert.equal(error.code, 'queue_timeout')
          assert.equal(error.type, 'timeout_error')
          assert.match(error.message, /XIPU_QUEUE_TIMEOUT_MS/)
          return 'timed out'
        }),
    ),
  )
  assert.ok(outcomes.includes('timed out'), `no request timed out: ${outcomes.join(', ')}`)
  assert.ok(outcomes.includes('answered'), `no request was answered: ${outcomes.join(', ')}`)
  assert.equal(stack.sim.state.rateLimited, 0)
  await stack.waitForCleanPlatform()
  await waitFor('no request running', () => adapter.sessions.activeCount() === 0)
  assert.equal(adapter.pacer.depth().request, 0)
})
