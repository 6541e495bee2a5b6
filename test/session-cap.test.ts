/**
 * No false "session cap" under load. The platform holds at most 50 sessions
 * an account, web chats included. Near the cap, the adapter's own finished
 * sessions are deleted before new ones are created, and a request that meets
 * the cap waits for that room and retries; a 409 `session_cap_reached` is
 * only for a cap full of the user's own chats.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { startStack, type Stack } from './support/harness.ts'

type Reply = { status: number; code?: string; content?: string }

async function askMany(stack: Stack, count: number, tag: string): Promise<Reply[]> {
  return Promise.all(
    Array.from({ length: count }, async (_, i) => {
      const response = await stack.postChat({ model: 'gpt-4.1', messages: [{ role: 'user', content: `${tag} ${i}` }] })
      const body = (await response.json()) as { error?: { code: string }; choices?: Array<{ message: { content: string } }> }
      return { status: response.status, code: body.error?.code, content: body.choices?.[0]?.message.content }
    }),
  )
}

function assertAllAnswered(replies: Reply[], tag: string): void {
  assert.deepEqual(replies.filter((r) => r.status !== 200).map((r) => `${r.status} ${r.code}`), [], 'every request answered')
  replies.forEach((r, i) => assert.match(r.content ?? '', new RegExp(`^Echo from gpt-4\\.1: ${tag} ${i} `)))
}

const webChats = (count: number) => Array.from({ length: count }, (_, i) => `Web chat ${i + 1}`)

for (const reuse of [false, true]) {
  const mode = reuse ? 'pooled sessions' : 'one session a request'
  test(`beside 41 web chats, 15 requests at once all succeed (${mode})`, async (t) => {
    const chats = webChats(41)
    const stack = await startStack({ stopAfter: t, gapMs: 25, reuse, simulator: { seedWebChats: chats } })
    const replies = await askMany(stack, 15, 'beside')
    assertAllAnswered(replies, 'beside')
    assert.equal(stack.sim.state.rateLimited, 0)
    await stack.waitForCleanPlatform()
    assert.deepEqual(stack.userChats().sort(), [...chats].sort(), 'the web chats untouched')
    await stack.adapter.close(2000)
    assert.deepEqual(stack.adapterSessions(), [])
  })

  test(`100 requests at once on the demo account: no 409 (${mode})`, { timeout: 240_000 }, async (t) => {
    const stack = await startStack({ stopAfter: t, gapMs: 15, reuse, simulator: { seedWebChats: ['My own web chat'] }, overrides: { XIPU_QUEUE_MAX: '128' } })
    const replies = await askMany(stack, 100, 'demo')
    assertAllAnswered(replies, 'demo')
    assert.equal(stack.sim.state.rateLimited, 0)
    await stack.adapter.close(5000)
    assert.deepEqual(stack.adapterSessions(), [])
    assert.deepEqual(stack.userChats(), ['My own web chat'])
  })
}

test('a cap full of the user\'s own chats is a 409 that says so, with nothing deleted', async (t) => {
  const chats = webChats(50)
  const stack = await startStack({ stopAfter: t, gapMs: 25, simulator: { seedWebChats: chats } })
  const replies = await askMany(stack, 3, 'full')
  for (const r of replies) assert.deepEqual([r.status, r.code], [409, 'session_cap_reached'])
  assert.equal(stack.calls({ endpoint: 'delSession' }).length, 0)
  assert.deepEqual(stack.userChats().sort(), [...chats].sort())
})
