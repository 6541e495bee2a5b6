/**
 * The pool of stateless sessions: requests reuse sessions created with
 * `contextCount: 0` and no system prompt, so that a request costs one platform
 * call; the simulator feeds a session's history back to the model as the
 * platform does, so a leak between requests would show in the answers. Retired
 * after XIPU_POOL_MAX_USES requests or XIPU_POOL_IDLE unused, kept younger than
 * another adapter's sweep would allow, all deleted at shutdown;
 * XIPU_SESSION_REUSE=0 brings back one fresh session a request.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { format } from 'node:util'
import { createConsola } from 'consola'
import { sweepOrphans } from '../lib/sessions/sweep.ts'
import { sessionNameTime } from '../lib/sessions/names.ts'
import { startStack, type Stack } from './support/harness.ts'
import { readSessionId } from './support/platform.ts'
import { waitFor } from './support/wait-for.ts'

const GAP_MS = 60

async function ask(stack: Stack, content: string, init: { model?: string; temperature?: number } = {}): Promise<string> {
  const reply = await stack.openai.chat.completions.create({ model: init.model ?? 'gpt-4.1', temperature: init.temperature, messages: [{ role: 'user', content }] })
  return reply.choices[0]!.message.content ?? ''
}

function count(stack: Stack, endpoint: string, since = 0, filter: (body: Record<string, unknown>) => boolean = () => true): number {
  return stack.calls({ endpoint, since }).filter((c) => c.status === 200 && filter(c.body as Record<string, unknown>)).length
}

const creates = (body: Record<string, unknown>) => body.id === undefined
const updates = (body: Record<string, unknown>) => body.id !== undefined

test('sequential requests share one stateless session: one platform call a request', async (t) => {
  const stack = await startStack({ stopAfter: t, gapMs: GAP_MS })
  for (let i = 0; i < 5; i++) assert.match(await ask(stack, `question ${i}`), new RegExp(`question ${i} \\| turns 1, history 0`))

  const completions = stack.calls({ endpoint: 'completions' })
  assert.equal(completions.length, 5)
  assert.equal(new Set(completions.map(readSessionId)).size, 1, 'all five ran in one session')
  assert.equal(count(stack, 'saveSession'), 1, 'one session created, no update')
  assert.equal(count(stack, 'delSession'), 0, 'nothing deleted while the adapter runs')
  const [session] = stack.adapterSessions()
  const simSession = stack.sim.state.sessions.get(session!.id)!
  assert.equal(simSession.contextCount, 0, 'the session feeds no history back')
  assert.equal((stack.calls({ endpoint: 'saveSession' })[0]!.body as { prompt?: unknown }).prompt, '', 'and has an empty system prompt')
  assert.equal(simSession.history.length, 5, 'the platform kept every turn: only contextCount keeps them from the model')
  const entry = stack.adapter.journal.entries().find((e) => e.id === session!.id)
  assert.ok(entry?.pooled, 'the pooled session is journalled as such')
  assert.equal(stack.sim.state.rateLimited, 0)
  await stack.waitForCleanPlatform()
})

test('no request ever sees another request\'s text in a reused session', async (t) => {
  const stack = await startStack({ stopAfter: t, gapMs: GAP_MS })
  const secret = 'NONCE-7F3A91'
  await ask(stack, `Remember the code ${secret}, please.`)
  const recall = await ask(stack, 'What did I say before? [[sim:recall]]')
  const ids = stack.calls({ endpoint: 'completions' }).map(readSessionId)
  assert.equal(ids[0], ids[1], 'the second request ran in the first one\'s session')
  assert.equal(recall, 'Recall: nothing', 'the model was fed no earlier turn')
  assert.ok(!recall.includes(secret))

  // The directive is not toothless: a session that feeds history back shows it.
  const webChat = [...stack.sim.state.sessions.values()].find((s) => s.contextCount > 0)!
  webChat.history.push({ user: `User:\n${secret}`, assistant: 'ok' })
  stack.sim.state.sessions.get(ids[0]!)!.contextCount = webChat.contextCount
  assert.match(await ask(stack, 'again [[sim:recall]]'), new RegExp(secret))
})

test('a request with other parameters takes a free session with its parameters, else updates one', async (t) => {
  const stack = await startStack({ stopAfter: t, gapMs: GAP_MS })
  // Two at once: two sessions, one per model.
  await Promise.all([ask(stack, 'a [[sim:slow=30]]', { model: 'gpt-4.1' }), ask(stack, 'b [[sim:slow=30]]', { model: 'gpt-5.4' })])
  assert.equal(count(stack, 'saveSession', 0, creates), 2)
  const since = stack.sim.state.calls.length
  assert.match(await ask(stack, 'c', { model: 'gpt-5.4' }), /Echo from gpt-5\.4/)
  assert.match(await ask(stack, 'd', { model: 'gpt-4.1' }), /Echo from gpt-4\.1/)
  assert.equal(count(stack, 'saveSession', since), 0, 'each found a free session of its model')

  // Only one model in the pool's free sessions now fits nothing: one update, no create.
  const before = stack.sim.state.calls.length
  assert.match(await ask(stack, 'e', { model: 'gpt-4.1', temperature: 0.2 }), /Echo from gpt-4\.1: e/)
  assert.equal(count(stack, 'saveSession', before, creates), 0)
  assert.equal(count(stack, 'saveSession', before, updates), 1, 'one update made a free session fit')
  const updated = stack.sim.state.sessions.get(readSessionId(stack.calls({ endpoint: 'completions' }).at(-1)!))!
  assert.equal(updated.temperature, 0.2)
  assert.equal(updated.contextCount, 0, 'and it stays stateless')
})

test('a session is retired after XIPU_POOL_MAX_USES requests', async (t) => {
  const stack = await startStack({ stopAfter: t, gapMs: GAP_MS, overrides: { XIPU_POOL_MAX_USES: '3' } })
  for (let i = 0; i < 7; i++) await ask(stack, `use ${i}`)
  const ids = stack.calls({ endpoint: 'completions' }).map(readSessionId)
  assert.deepEqual(
    ids.map((id) => ids.indexOf(id)),
    [0, 0, 0, 3, 3, 3, 6],
    'three requests a session',
  )
  await waitFor('the two used-up sessions deleted', () => !stack.sim.state.sessions.has(ids[0]!) && !stack.sim.state.sessions.has(ids[3]!))
  await stack.waitForCleanPlatform()
})

test('a session unused for XIPU_POOL_IDLE is deleted', async (t) => {
  const stack = await startStack({ stopAfter: t, gapMs: GAP_MS, overrides: { XIPU_POOL_IDLE: '400ms' } })
  await ask(stack, 'then nothing for a while')
  const [session] = stack.adapterSessions()
  assert.ok(session)
  await waitFor('the idle session deleted and forgotten', () => stack.adapterSessions().length === 0 && !stack.adapter.journal.has(session.id))
  await ask(stack, 'back again')
  assert.equal(count(stack, 'saveSession', 0, creates), 2, 'the next request created a new one')
})

test('a pooled session is renamed before another adapter could take it for an orphan, and a sweep leaves it alone', async (t) => {
  // Another adapter deletes a prefixed session no journal of its names once its name is older than XIPU_MAX_REQUEST.
  const stack = await startStack({ stopAfter: t, gapMs: GAP_MS, overrides: { XIPU_MAX_REQUEST: '2s', XIPU_POOL_IDLE: '1h' } })
  await ask(stack, 'first')
  const [session] = stack.adapterSessions()
  const firstNamed = sessionNameTime(session!.name)!
  await waitFor('renamed with a fresh time', () => {
    const name = stack.sim.state.sessions.get(session!.id)?.name
    return name !== undefined && sessionNameTime(name)! > firstNamed
  })
  const renamed = stack.sim.state.sessions.get(session!.id)!
  await waitFor('the journal to follow the name', () => stack.adapter.journal.entries().find((e) => e.id === session!.id)?.name === renamed.name)
  // A sweep by another process of this state folder: the live journal names the session as pooled.
  const swept = await sweepOrphans({ client: stack.adapter.client, stateDir: stack.adapter.settings().stateDir, apiBase: stack.sim.apiBase, maxRequestMs: 0 })
  assert.deepEqual(swept.deleted, [])
  assert.ok(stack.sim.state.sessions.has(session!.id))
  assert.match(await ask(stack, 'still here'), /still here/)
  assert.equal(readSessionId(stack.calls({ endpoint: 'completions' }).at(-1)!), session!.id)
})

test('shutdown deletes every pooled session and leaves the journal empty', async (t) => {
  const stack = await startStack({ stopAfter: t, gapMs: GAP_MS })
  await Promise.all(Array.from({ length: 4 }, (_, i) => ask(stack, `burst ${i} [[sim:slow=20]]`)))
  assert.ok(stack.adapterSessions().length >= 1)
  await stack.adapter.close(2000)
  assert.deepEqual(stack.adapterSessions(), [], 'no session of the adapter left')
  assert.deepEqual(stack.userChats().sort(), [...stack.webChats].sort(), 'the web chats untouched')
  assert.equal(stack.adapter.journal.entries().length, 0)
})

test('XIPU_SESSION_REUSE=0: one fresh session a request, deleted after', async (t) => {
  const stack = await startStack({ stopAfter: t, gapMs: GAP_MS, reuse: false })
  for (let i = 0; i < 3; i++) await ask(stack, `fresh ${i}`)
  await stack.waitForCleanPlatform()
  const ids = stack.calls({ endpoint: 'completions' }).map(readSessionId)
  assert.equal(new Set(ids).size, 3)
  assert.equal(count(stack, 'saveSession', 0, creates), 3)
  assert.deepEqual(stack.adapterSessions(), [])
})

test('where saveSession takes contextCount only on update, each new session costs one update, once', async (t) => {
  const stack = await startStack({ stopAfter: t, gapMs: GAP_MS, simulator: { contextCount: 'update-only' } })
  await ask(stack, 'Remember SECRET-42.')
  for (let i = 0; i < 3; i++) assert.equal(await ask(stack, `recall ${i} [[sim:recall]]`), 'Recall: nothing')
  assert.equal(count(stack, 'saveSession', 0, creates), 1)
  assert.equal(count(stack, 'saveSession', 0, updates), 1, 'one update, for the one session')
  assert.equal(new Set(stack.calls({ endpoint: 'completions' }).map(readSessionId)).size, 1)
})

test('where a create that sends contextCount is refused, each new session is created without it and updated once', async (t) => {
  const stack = await startStack({ stopAfter: t, gapMs: GAP_MS, simulator: { contextCount: 'refused-on-create' } })
  await ask(stack, 'Remember SECRET-44.')
  const answers = await Promise.all([ask(stack, 'first [[sim:recall]] [[sim:slow=20]]'), ask(stack, 'second [[sim:recall]] [[sim:slow=20]]')])
  assert.deepEqual(answers, ['Recall: nothing', 'Recall: nothing'])
  const sessions = new Set(stack.calls({ endpoint: 'completions' }).map(readSessionId))
  const sentContext = (body: Record<string, unknown>) => creates(body) && body.contextCount !== undefined
  // The first create learns it (refused, then made without); later creates go without at once.
  assert.equal(count(stack, 'saveSession', 0, sentContext), 1)
  assert.equal(count(stack, 'saveSession', 0, creates), sessions.size + 1)
  assert.equal(count(stack, 'saveSession', 0, updates), sessions.size, 'one update for each session')
  for (const id of sessions) assert.equal(stack.sim.state.sessions.get(id)?.contextCount, 0)
})

test('where contextCount never takes, sessions are not reused and nothing leaks', async (t) => {
  const lines: string[] = []
  const log = createConsola({ level: 4, reporters: [{ log: (entry) => lines.push(format(...entry.args)) }] })
  const stack = await startStack({ stopAfter: t, gapMs: GAP_MS, simulator: { contextCount: 'never' }, log })
  await ask(stack, 'Remember SECRET-43.')
  assert.equal(await ask(stack, 'what was it? [[sim:recall]]'), 'Recall: nothing')
  assert.equal(new Set(stack.calls({ endpoint: 'completions' }).map(readSessionId)).size, 2, 'a fresh session each')
  assert.ok(lines.some((l) => /not reused/.test(l)), 'the log says why')
  await stack.waitForCleanPlatform()
  assert.deepEqual(stack.adapterSessions(), [])
})

test('a burst shares the pool: every answer right, no 429, nothing left after shutdown', async (t) => {
  const stack = await startStack({ stopAfter: t, gapMs: GAP_MS })
  const answers = await Promise.all(Array.from({ length: 12 }, (_, i) => ask(stack, `burst ${i}`)))
  answers.forEach((answer, i) => assert.match(answer, new RegExp(`burst ${i} \\| turns 1, history 0`)))
  const again = await Promise.all(Array.from({ length: 12 }, (_, i) => ask(stack, `again ${i} [[sim:recall]]`)))
  for (const answer of again) assert.equal(answer, 'Recall: nothing')
  await stack.waitForCleanPlatform()
  assert.ok(stack.adapterSessions().length <= 8, 'at most XIPU_POOL_MAX sessions kept')
  assert.equal(stack.sim.state.rateLimited, 0)
  await stack.adapter.close(2000)
  assert.deepEqual(stack.adapterSessions(), [])
})
