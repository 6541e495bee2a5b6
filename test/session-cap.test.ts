/**
 * No false "session cap" under load. The platform holds at most 50 sessions
 * an account, web chats included. Near the cap, the adapter's own finished
 * sessions are deleted before new ones are created, and a request that meets
 * the cap waits for that room and retries; a 409 `session_cap_reached` is
 * only for a cap full of the user's own chats.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { startAdapter } from '../lib/adapter/start.ts'
import { updateEnvFile } from '../lib/env-file.ts'
import { startSimulator } from '../lib/simulator/index.ts'
import { postChat, startStack, type Stack } from './support/harness.ts'
import { waitFor } from './support/wait-for.ts'

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

test('the pool never holds more than the room the cap leaves beside the user\'s chats', async (t) => {
  // 46 web chats: room for 4 sessions of the adapter's, whatever XIPU_POOL_MAX says. The simulator
  // allows more than 50 here, so that only the adapter's own bound can keep the pool at 4.
  const chats = webChats(46)
  const sim = await startSimulator({ minGapMs: 25, seedWebChats: chats, sessionCap: 60 })
  t.after(() => sim.close())
  const dir = mkdtempSync(join(tmpdir(), 'xipu-room-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  const envFile = join(dir, '.env')
  updateEnvFile(envFile, sim.adapterEnv())
  const adapter = await startAdapter({ port: 0, envFile, env: {}, heal: true, overrides: { XIPU_STATE_DIR: join(dir, 'state'), XIPU_MIN_GAP_MS: '25', XIPU_POOL_MAX: '8' } })
  t.after(() => adapter.close(1000))
  await adapter.startupSweep // its listing tells the adapter how many chats are the user's
  const replies = await Promise.all(
    Array.from({ length: 10 }, async (_, i) => {
      const response = await postChat(adapter.baseURL, { model: 'gpt-4.1', messages: [{ role: 'user', content: `room ${i} [[sim:slow=20]]` }] })
      await response.text()
      return response.status
    }),
  )
  assert.deepEqual(replies, Array(10).fill(200))
  await waitFor('no request running', () => adapter.sessions.activeCount() === 0)
  assert.ok(adapter.sessions.pool.size() <= 4, `${adapter.sessions.pool.size()} pooled sessions`)
  await waitFor('the sessions beyond the pool deleted', () => sim.state.sessions.size <= 46 + 4)
  assert.deepEqual([...sim.state.sessions.values()].filter((s) => chats.includes(s.name)).length, 46, 'the web chats untouched')
})
