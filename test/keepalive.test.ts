/**
 * The keepalive's other duties, against the simulator: one keepalive per
 * .env (locks), orphan sweeps that spare the user's web chats, 429s retried
 * later, and warm reads that wait for the adapter to be idle.
 */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { existsSync, mkdirSync, writeFileSync } from 'node:fs'
import { hostname } from 'node:os'
import { join } from 'node:path'
import { describe, test } from 'node:test'
import { startAdapter } from '../lib/adapter/start.ts'
import { journalDir } from '../lib/sessions/journal.ts'
import { keepaliveLockFile } from '../lib/keepalive/jobs.ts'
import { readLockOwner, tryAcquireLock } from '../lib/lock.ts'
import { createSessionName } from '../lib/sessions/names.ts'
import { askAdapter, createCapturingLogger, startAccount } from './support/account.ts'
import { WEB_CHATS } from './support/platform.ts'
import { runScript, spawnScript } from './support/processes.ts'
import { waitFor } from './support/wait-for.ts'
import { startKeepaliveJobs, stopGracefully } from './support/keepalive.ts'

const SESSION_FIELDS = { model: 'gpt-4.1', temperature: 0.7, maxToken: 0, presencePenalty: 0, frequencyPenalty: 0, contextCount: 4 }

/** The pid of a process that has ended (a lock or journal of a crashed program). */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' })
  await new Promise((resolve) => child.on('exit', resolve))
  return child.pid!
}

describe('the keepalive', { concurrency: 2 }, () => {
  test('two keepalives started together leave one running', async (t) => {
    const account = await startAccount(t, { env: { XIPU_SWEEP_INTERVAL: '0', XIPU_WARM_IDLE: '0' } })
    const first = spawnScript(t, 'keepalive.ts', { envFile: account.envFile })
    const second = spawnScript(t, 'keepalive.ts', { envFile: account.envFile })

    const loser = await Promise.race([first.exited.then(() => first), second.exited.then(() => second)])
    const winner = loser === first ? second : first
    assert.notEqual(await loser.exited, 0)
    assert.match(loser.output(), /Another keepalive \(process \d+, running since .*\) already looks after/)
    await winner.waitForOutput(/Keepalive running as process/)
    assert.ok(winner.running(), 'the other one keeps running')
    assert.equal(readLockOwner(keepaliveLockFile(account.envFile))?.pid, winner.pid, 'the lock names the one that runs')

    await stopGracefully(winner, account.envFile)
  })

  test('the lock of a dead keepalive is taken over; a live one is respected', async (t) => {
    const account = await startAccount(t, { env: { XIPU_WARM_IDLE: '0' } })
    const lockFile = keepaliveLockFile(account.envFile)
    const owner = (pid: number) => JSON.stringify({ pid, host: hostname(), startedAt: Date.now() - 60_000, purpose: 'keepalive', nonce: `n${pid}` })

    writeFileSync(lockFile, owner(await deadPid()))
    const run = await runScript('keepalive.ts', { envFile: account.envFile, args: ['--once'] })
    assert.equal(run.code, 0, run.output)
    assert.equal(existsSync(lockFile), false, 'taken over, then released')

    writeFileSync(lockFile, owner(process.pid))
    const refused = await runScript('keepalive.ts', { envFile: account.envFile, args: ['--once'] })
    assert.notEqual(refused.code, 0)
    assert.match(refused.output, new RegExp(`Another keepalive \\(process ${process.pid},`))
    assert.equal(readLockOwner(lockFile)?.pid, process.pid, 'a live owner keeps its lock')
  })

  test('a lock left by an earlier process with this same pid (a restarted container) is taken over; one this process holds is not', async (t) => {
    const account = await startAccount(t, { env: { XIPU_WARM_IDLE: '0' } })
    const lockFile = keepaliveLockFile(account.envFile)
    // Our pid, but written by another process: no process token of ours.
    writeFileSync(lockFile, JSON.stringify({ pid: process.pid, host: hostname(), processToken: 'an-earlier-process', startedAt: Date.now() - 60_000, purpose: 'keepalive', nonce: 'earlier' }))
    const taken = tryAcquireLock(lockFile, 'keepalive')
    assert.ok(taken.lock, `refused, naming ${JSON.stringify(taken.owner)}`)
    assert.notEqual(readLockOwner(lockFile)?.nonce, 'earlier')

    const again = tryAcquireLock(lockFile, 'keepalive')
    assert.equal(again.lock, undefined, 'this process holds it: a second take is refused')
    assert.equal(again.owner?.nonce, taken.lock.owner.nonce)
    taken.lock.release()
    assert.equal(existsSync(lockFile), false)
  })

  test('--once sweeps only the adapter\'s orphans, keeps every web chat, and exits 0', async (t) => {
    const account = await startAccount(t, { env: { XIPU_MAX_REQUEST: '15m' } })
    const { sim, stateDir } = account
    const session = (name: string) => sim.state.createSession('demo', { name, ...SESSION_FIELDS }).id
    // A web chat whose name merely looks like ours: only the exact prefix marks a session as the adapter's.
    session('xipu-openai notes (my own)')
    const crashed = session(createSessionName(new Date()))
    const unjournaled = session(createSessionName(new Date(Date.now() - 20 * 60_000))) // older than XIPU_MAX_REQUEST: no adapter runs a request that long
    const running = session(createSessionName(new Date()))
    const stuck = session(createSessionName(new Date(Date.now() - 20 * 60_000)))
    // Another adapter's request (another state folder), 5 minutes in: not this keepalive's to judge yet.
    const foreign = session(createSessionName(new Date(Date.now() - 5 * 60_000)))
    mkdirSync(journalDir(stateDir), { recursive: true })
    const journal = (pid: number, sessions: Array<{ id: number; createdAt: number }>) =>
      writeFileSync(join(journalDir(stateDir), `${pid}.json`), JSON.stringify({ pid, host: hostname(), startedAt: Date.now(), apiBase: sim.apiBase, sessions: sessions.map((s) => ({ ...s, name: 'x' })) }))
    journal(await deadPid(), [{ id: crashed, createdAt: Date.now() }])
    // This test process stands for a live adapter: its fresh session is in use, its old one is stuck.
    journal(process.pid, [
      { id: running, createdAt: Date.now() },
      { id: stuck, createdAt: Date.now() - 20 * 60_000 },
    ])

    const run = await runScript('keepalive.ts', { envFile: account.envFile, args: ['--once'] })
    assert.equal(run.code, 0, run.output)
    assert.match(run.output, /sweep-orphans: ok \(deleted 3 orphan session\(s\)\)/)
    assert.deepEqual(account.adapterSessions().map((s) => s.id), [running, foreign], 'only the sessions live adapters are using are left')
    assert.deepEqual(account.userChats().sort(), [...WEB_CHATS, 'xipu-openai notes (my own)'].sort(), 'every web chat stays')
    for (const id of [crashed, unjournaled, stuck]) assert.equal(sim.state.sessions.has(id), false)
  })

  test('a sweep refused with 429 is retried later, not at once', async (t) => {
    const account = await startAccount(t, { env: { XIPU_WARM_IDLE: '0' } })
    const orphan = account.sim.state.createSession('demo', { name: createSessionName(new Date(Date.now() - 20 * 60_000)), ...SESSION_FIELDS }).id
    account.sim.state.injectFault('session', { kind: 'status', status: 429, message: 'Request too fast' })
    const retryMs = 1500
    const { waitForLine } = startKeepaliveJobs(t, account.envFile, { minGapMs: 500, timing: { rateLimitRetryMs: retryMs } })

    await waitForLine(/sweep-orphans: the platform answered 429 .*trying again in 1s/)
    await waitFor('the orphan is deleted', () => !account.sim.state.sessions.has(orphan), 60_000)
    const lists = account.sim.state.calls.filter((c) => c.endpoint === 'session')
    assert.equal(lists.length, 2, 'one refused list, then one that worked: no retry at once')
    assert.equal(lists[0]!.status, 429)
    assert.ok(lists[1]!.at - lists[0]!.at >= retryMs, 'the retry waited for its time')
    assert.deepEqual(account.userChats().sort(), [...WEB_CHATS].sort())
  })

  test('the warm read waits until the adapter has been idle, and is never bunched with its calls', async (t) => {
    const warmIdleMs = 3000
    const account = await startAccount(t, { env: { XIPU_WARM_IDLE: '3s', XIPU_SWEEP_INTERVAL: '0' } })
    const quiet = createCapturingLogger()
    const adapter = await startAdapter({ envFile: account.envFile, env: {}, port: 0, log: quiet.log })
    t.after(() => adapter.close(1000))
    // A keepalive as a separate process would have it: its own pacer, the adapter's stamp file.
    const { waitForLine } = startKeepaliveJobs(t, account.envFile, { timing: { quietMs: 1000 } })

    const busyUntil = Date.now() + 2 * warmIdleMs
    while (Date.now() < busyUntil) assert.equal((await askAdapter(adapter.baseURL, 'Keep busy')).status, 200)
    assert.equal(account.sim.state.calls.filter((c) => c.endpoint === 'config').length, 0, 'no warm read while the adapter works')

    await waitForLine(/Kept the login warm: one catalog read after \ds without calls/)
    const calls = account.sim.state.calls
    const warm = calls.findIndex((c) => c.endpoint === 'config')
    const before = calls[warm - 1]!
    assert.ok(calls[warm]!.at - before.at >= warmIdleMs, 'the read came after the idle time, apart from the adapter\'s last call')
    assert.equal(calls.filter((c) => c.status === 429).length, 0)
  })
})
