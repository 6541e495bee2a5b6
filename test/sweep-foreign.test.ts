/**
 * Two adapters on one account, each with its own state folder: neither may
 * delete the other's running request. A prefixed session that no journal of
 * an adapter's own names is an orphan to it only once older than
 * XIPU_MAX_REQUEST, in the startup sweep and at the session cap alike.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { startAdapter } from '../lib/adapter/start.ts'
import { updateEnvFile } from '../lib/env-file.ts'
import { createSessionName } from '../lib/sessions/names.ts'
import { startStack } from './support/harness.ts'
import { waitFor } from './support/wait-for.ts'

const GAP_MS = 100
const minutesAgo = (minutes: number) => createSessionName(new Date(Date.now() - minutes * 60_000))
const FIELDS = { model: 'gpt-4.1', temperature: 0.7, maxToken: 0, presencePenalty: 0, frequencyPenalty: 0, contextCount: 4 }

test('a second adapter with another state folder never deletes the first one\'s running request', async (t) => {
  // Room for the two web chats and three sessions of the adapters.
  const stack = await startStack({ stopAfter: t, gapMs: GAP_MS, simulator: { sessionCap: 5 }, overrides: { XIPU_MAX_REQUEST: '15m' } })
  const { sim } = stack

  // Adapter A answers slowly (a long reasoning answer, say): its request runs all through this test.
  const slow = stack.openai.chat.completions.create({ model: 'gpt-4.1', messages: [{ role: 'user', content: 'take your time [[sim:slow=100]]' }] })
  await waitFor('A\'s completion started', () => sim.state.streamsOpen === 1)
  const [running] = stack.adapterSessions()
  assert.ok(running)
  // As if it had been running for 5 minutes: past the old 60 s rule, well within XIPU_MAX_REQUEST.
  sim.state.sessions.get(running.id)!.name = minutesAgo(5)
  // Another adapter's request elsewhere, 2 minutes in, that no journal on this machine names.
  const elsewhere = sim.state.createSession('demo', { name: minutesAgo(2), ...FIELDS }).id
  // A true orphan of some adapter: older than XIPU_MAX_REQUEST.
  const orphan = sim.state.createSession('demo', { name: minutesAgo(20), ...FIELDS }).id

  // Adapter B: the same account, its own .env and state folder.
  const dir = mkdtempSync(join(tmpdir(), 'xipu-second-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  const envFile = join(dir, '.env')
  updateEnvFile(envFile, sim.adapterEnv())
  const second = await startAdapter({
    port: 0,
    envFile,
    env: {},
    heal: true,
    overrides: { XIPU_STATE_DIR: join(dir, 'state'), XIPU_MIN_GAP_MS: String(GAP_MS), XIPU_PREPARE_SESSION: '0', XIPU_MAX_REQUEST: '15m' },
  })
  t.after(() => second.close(1000))

  const swept = await second.startupSweep
  assert.deepEqual(swept?.deleted, [orphan], 'B\'s startup sweep deletes only the orphan older than XIPU_MAX_REQUEST')
  assert.ok(sim.state.sessions.has(running.id), 'A\'s running session is still there')
  assert.ok(sim.state.sessions.has(elsewhere))

  // At the cap, B sweeps to make room: still not A's session, nor the one from elsewhere.
  const orphan2 = sim.state.createSession('demo', { name: minutesAgo(16), ...FIELDS }).id
  assert.equal(sim.state.sessionsOf('demo').length, 5, 'the account is at its cap')
  const response = await fetch(`${second.baseURL}/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'gpt-4.1', messages: [{ role: 'user', content: 'B needs room' }] }),
  })
  assert.equal(response.status, 200, await response.clone().text())
  assert.equal(sim.state.sessions.has(orphan2), false, 'the cap sweep deleted the old orphan')
  assert.ok(sim.state.sessions.has(running.id), 'A\'s running session survived B\'s cap sweep')
  assert.ok(sim.state.sessions.has(elsewhere))

  const reply = await slow
  assert.match(reply.choices[0]!.message.content ?? '', /take your time/)
  assert.equal(reply.choices[0]!.finish_reason, 'stop')
  assert.deepEqual(stack.userChats().sort(), [...stack.webChats].sort(), 'every web chat stays')
})
