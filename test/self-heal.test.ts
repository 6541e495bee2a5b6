/**
 * The adapter that heals itself, against the simulator: orphans of a killed
 * adapter swept by the next sweep (web chats untouched), a revoked token healed
 * by one login (real Chromium through the simulated SSO) while requests wait,
 * a 401 that says what to do without credentials, and `adapter.ts --keepalive`
 * logging in before serving and renewing its token while it serves.
 */
import assert from 'node:assert/strict'
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, test, type TestContext } from 'node:test'
import { startAdapter } from '../lib/adapter/start.ts'
import { journalDir, type JournalFile } from '../lib/sessions/journal.ts'
import { getTokenLifetime } from '../lib/jwt.ts'
import { keepaliveLockFile } from '../lib/keepalive/jobs.ts'
import { readLockOwner } from '../lib/lock.ts'
import { askAcross, askAdapter, createCapturingLogger, PASSWORD, startAccount, type Account } from './support/account.ts'
import { WEB_CHATS } from './support/platform.ts'
import { runScript, spawnScript } from './support/processes.ts'
import { waitFor } from './support/wait-for.ts'

const BASE_URL = /OpenAI base URL:\s+(http:\/\/127\.0\.0\.1:\d+\/v1)/

/** Starts adapter.ts, streams a long answer, and SIGKILLs the adapter once the first words arrived. */
async function killAdapterMidStream(t: TestContext, account: Account): Promise<{ sessionId: number; pid: number }> {
  const adapter = spawnScript(t, 'adapter.ts', { envFile: account.envFile })
  const baseURL = (await adapter.waitForOutput(BASE_URL))[1]!
  const response = await fetch(`${baseURL}/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'gpt-4.1', stream: true, messages: [{ role: 'user', content: '[[sim:slow=200]] [[sim:long=4000]] Tell me a long story' }] }),
  })
  assert.equal(response.status, 200)
  const reader = response.body!.getReader()
  let text = ''
  while (!/"content":"[^"]+"/.test(text)) text += new TextDecoder().decode((await reader.read()).value)
  assert.equal(account.sim.state.streamsOpen, 1, 'the stream is running')

  adapter.child.kill('SIGKILL')
  await adapter.exited
  await reader.cancel().catch(() => {})
  const journal = JSON.parse(readFileSync(join(journalDir(account.stateDir), `${adapter.pid}.json`), 'utf8')) as JournalFile
  const sessionId = journal.sessions[0]!.id
  assert.deepEqual(account.adapterSessions().map((s) => s.id), [sessionId], 'the killed adapter left its session behind, journalled')
  return { sessionId, pid: adapter.pid }
}

describe('self-healing', { concurrency: 3 }, () => {
  test('an adapter killed mid-stream leaves an orphan that the next keepalive sweep deletes; web chats stay', async (t) => {
    const account = await startAccount(t)
    const { sessionId, pid } = await killAdapterMidStream(t, account)

    const run = await runScript('keepalive.ts', { envFile: account.envFile, args: ['--once'] })
    assert.equal(run.code, 0, run.output)
    assert.match(run.output, new RegExp(`Swept 1 orphan session\\(s\\) left by earlier requests: ${sessionId}`))
    assert.deepEqual(account.adapterSessions(), [], 'the orphan is gone')
    assert.deepEqual(account.userChats().sort(), [...WEB_CHATS].sort(), 'every web chat stays')
    assert.equal(existsSync(join(journalDir(account.stateDir), `${pid}.json`)), false, 'the dead journal is forgotten')
  })

  test('the next adapter sweeps the orphans of a killed one at startup; web chats stay', async (t) => {
    const account = await startAccount(t)
    const { sessionId } = await killAdapterMidStream(t, account)

    const capture = createCapturingLogger()
    const adapter = await startAdapter({ envFile: account.envFile, env: {}, port: 0, heal: true, log: capture.log })
    t.after(() => adapter.close(1000))
    const swept = await adapter.startupSweep
    assert.deepEqual(swept?.deleted, [sessionId])
    assert.deepEqual(account.adapterSessions(), [])
    assert.deepEqual(account.userChats().sort(), [...WEB_CHATS].sort())
    assert.equal((await askAdapter(adapter.baseURL, 'Still serving?')).status, 200)
  })

  test('an adapter that comes back with the pid of the killed one (a restarted container) still sweeps its orphans', async (t) => {
    const account = await startAccount(t)
    const { sessionId, pid } = await killAdapterMidStream(t, account)
    // Make the killed adapter's journal look as if it had run with this process's pid.
    const dir = journalDir(account.stateDir)
    const journal = JSON.parse(readFileSync(join(dir, `${pid}.json`), 'utf8')) as JournalFile
    rmSync(join(dir, `${pid}.json`))
    writeFileSync(join(dir, `${process.pid}.json`), JSON.stringify({ ...journal, pid: process.pid }))

    const adapter = await startAdapter({ envFile: account.envFile, env: {}, port: 0, heal: true, log: createCapturingLogger().log })
    t.after(() => adapter.close(1000))
    const swept = await adapter.startupSweep
    assert.deepEqual(swept?.deleted, [sessionId], 'the earlier process\'s journal was taken for this one\'s')
    assert.deepEqual(account.adapterSessions(), [])
    assert.equal((await askAdapter(adapter.baseURL, 'Still serving?')).status, 200)
    // What is left is this adapter's own journal, naming only its pooled session.
    await waitFor('the journals to hold only the pooled session', () => readdirSync(dir).every((name) => name === `${process.pid}.json`) && adapter.journal.entries().every((e) => e.pooled && adapter.sessions.pool.freeIds().includes(e.id)))
  })

  test('a token revoked under a running adapter is healed by one login; requests that arrive meanwhile wait for it', async (t) => {
    // The first request after the revocation takes the pooled session, so its first call is its completion.
    const account = await startAccount(t, { env: { XIPU_PREPARE_SESSION: '0' } })
    const capture = createCapturingLogger()
    const adapter = await startAdapter({ envFile: account.envFile, env: {}, port: 0, heal: true, log: capture.log })
    t.after(() => adapter.close(1000))
    assert.equal((await askAdapter(adapter.baseURL, 'Before')).status, 200)
    const before = account.env().JM_TOKEN

    account.sim.state.tokens.revokeAll()
    const first = askAdapter(adapter.baseURL, 'The one that meets the 403')
    await waitFor('the adapter logs in', () => adapter.reauth!.isLoggingIn(), 60_000)
    const during = await Promise.all([first, askAdapter(adapter.baseURL, 'Arrives during the login'), askAdapter(adapter.baseURL, 'So does this one')])

    assert.deepEqual(during.map((r) => r.status), [200, 200, 200], during.map((r) => r.text).join('\n'))
    assert.equal(adapter.reauth!.loginCount(), 1, 'one login for every waiting request')
    const refused = account.sim.state.calls.filter((c) => c.status === 403 && c.endpoint !== 'delSession')
    assert.deepEqual(refused.map((c) => c.endpoint), ['completions'], 'only the first request met the revoked token')
    // A delete that met the revoked token too (the first request's, if it was still queued) is retried after the login.
    await waitFor('no session of the adapter is left but the pooled ones', () => account.adapterSessions().every((s) => adapter.sessions.pool.freeIds().includes(s.id)), 60_000)
    assert.notEqual(account.env().JM_TOKEN, before)
    assert.equal(account.sim.state.tokens.check(account.env().JM_TOKEN, account.env().SDP_SESSION).ok, true, 'the new tokens are in .env')
    assert.ok(!capture.lines.join('\n').includes(PASSWORD), 'the password is never logged')
  })

  test('a renewal slower than its margin: a request after the old token expired waits for it instead of meeting a 403', async (t) => {
    // The token lives 4 s; each SSO step takes 1.5 s, so the renewal started at once ends after it expired.
    const account = await startAccount(t, { tokenTtlMs: 4000, simulator: { loginStepDelayMs: 1500 }, env: { XIPU_PREPARE_SESSION: '0' } })
    const oldToken = account.env().JM_TOKEN!
    const expiry = getTokenLifetime(oldToken).expiresAt!.getTime()
    const capture = createCapturingLogger()
    const adapter = await startAdapter({ envFile: account.envFile, env: {}, port: 0, heal: true, log: capture.log })
    t.after(() => adapter.close(1000))

    const renewal = adapter.reauth!.login('the renewal is due')
    await waitFor('the old token to expire', () => Date.now() > expiry + 200, 30_000)
    assert.ok(adapter.reauth!.isLoggingIn(), 'the renewal is still running after the old token expired')
    const { status, text } = await askAdapter(adapter.baseURL, 'After the expiry, during the renewal')
    await renewal

    assert.equal(status, 200, text)
    assert.equal(account.sim.state.calls.filter((c) => c.status === 403).length, 0, 'no call went out with the expired token')
    assert.equal(adapter.reauth!.loginCount(), 1)
    const late = account.sim.state.calls.filter((c) => c.endpoint === 'completions').at(-1)
    assert.equal(late?.headers['jm-token'], account.env().JM_TOKEN, 'the request was sent with the renewed token')
  })

  test('without saved credentials a platform 403 is answered 401 with the advice to run auth.ts', async (t) => {
    const account = await startAccount(t, { credentials: false })
    const capture = createCapturingLogger()
    const adapter = await startAdapter({ envFile: account.envFile, env: {}, port: 0, heal: true, log: capture.log })
    t.after(() => adapter.close(1000))

    account.sim.state.tokens.revokeAll()
    const { status, text } = await askAdapter(adapter.baseURL, 'Hello')
    assert.equal(status, 401)
    const { error } = JSON.parse(text) as { error: { message: string; code: string } }
    assert.equal(error.code, 'xipu_token_expired')
    assert.match(error.message, /npx tsx auth\.ts/)
    assert.equal(adapter.reauth!.loginCount(), 0)
  })

  test('adapter.ts --keepalive logs in before serving, then renews its token while serving, without a failed request', async (t) => {
    // Tokens from the simulated SSO live 30 s; the adapter's own keepalive renews them half-way,
    // 15 s before the expiry: a login on a loaded CI machine has taken up to 16 s with its start.
    const account = await startAccount(t, { tokenTtlMs: -60_000, simulator: { tokenTtlMs: 30_000 }, env: { XIPU_REAUTH_BEFORE: '20s', XIPU_WARM_IDLE: '0' } })
    const adapter = spawnScript(t, 'adapter.ts', { envFile: account.envFile, args: ['--keepalive'] })
    const baseURL = (await adapter.waitForOutput(BASE_URL))[1]!
    const startup = adapter.output()
    assert.ok(startup.indexOf('login step 1/4') < startup.indexOf('OpenAI base URL'), 'the login came before serving, with progress')
    assert.equal(readLockOwner(keepaliveLockFile(account.envFile))?.pid, adapter.pid, 'it holds the keepalive lock')

    const firstToken = account.env().JM_TOKEN!
    const firstExpiry = getTokenLifetime(firstToken).expiresAt!.getTime()
    const { failures } = await askAcross(baseURL, firstExpiry)
    assert.deepEqual(failures, [])
    assert.notEqual(account.env().JM_TOKEN, firstToken, 'the keepalive jobs renewed the token')
    assert.equal(account.sim.state.calls.filter((c) => c.status === 403).length, 0, 'no call ever went out with an expired token')
    assert.ok(!adapter.output().includes(PASSWORD), 'the password is never printed')

    adapter.child.kill('SIGTERM')
    const code = await adapter.exited
    // Windows has no SIGTERM (the kill is abrupt there): the next keepalive takes the lock over instead.
    if (process.platform !== 'win32') {
      assert.equal(code, 0, adapter.output())
      assert.equal(existsSync(keepaliveLockFile(account.envFile)), false, 'the lock is released')
    }
  })
})
