/**
 * Process liveness that does not lie: a zombie (exited, never reaped) and a
 * pid that now belongs to another process are dead writers, so their locks
 * are taken over and their journals' sessions swept. Linux only: elsewhere
 * there is no /proc and the pid check stays as it was.
 */
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { hostname } from 'node:os'
import { join } from 'node:path'
import { after, test } from 'node:test'
import { readLockOwner, tryAcquireLock } from '../lib/lock.ts'
import { isWriterAlive, PROCESS_START_TIME, readProcessStatus } from '../lib/process-identity.ts'
import { createJournal, journalDir, readJournals } from '../lib/sessions/journal.ts'
import { createSessionName } from '../lib/sessions/names.ts'
import { sweepOrphans } from '../lib/sessions/sweep.ts'
import { loadSettings } from '../lib/settings.ts'
import { startSimulator } from '../lib/simulator/index.ts'
import { createPacer } from '../lib/xipu/pacer.ts'
import { createXipuClient } from '../lib/xipu/client.ts'
import { listUserChats, WEB_CHATS } from './support/platform.ts'
import { makeTempDir } from './support/temp-dir.ts'
import { waitFor } from './support/wait-for.ts'

const linuxOnly = { skip: process.platform !== 'linux' && 'needs /proc (Linux)' }
const children: ChildProcess[] = []
after(() => {
  for (const child of children) child.kill('SIGKILL')
})

// The child exits only once its parent has become `sleep`: a shell that is still
// a shell may reap a child that exited early (it did on a loaded machine).
const EXIT_AFTER_PARENT_EXEC = 'until [ "$(cat /proc/$PPID/comm)" = sleep ]; do sleep 0.05; done'

/**
 * A real zombie: `sh` starts a child, then becomes `sleep` (exec keeps its
 * pid), which never reaps it; the child then exits. Resolves with its pid.
 */
async function startZombie(): Promise<number> {
  const parent = spawn('sh', ['-c', `sh -c '${EXIT_AFTER_PARENT_EXEC}' & echo $!; exec sleep 60`], { stdio: ['ignore', 'pipe', 'inherit'] })
  children.push(parent)
  const pid = await new Promise<number>((resolve, reject) => {
    parent.stdout!.once('data', (chunk: Buffer) => resolve(Number(chunk.toString().trim())))
    parent.once('error', reject)
  })
  await waitFor(`process ${pid} to be a zombie`, () => readProcessStatus(pid)?.state === 'Z')
  return pid
}

function startSleeper(): number {
  const child = spawn('sleep', ['60'], { stdio: 'ignore' })
  children.push(child)
  return child.pid!
}

test('a zombie is dead: its lock is taken over, and isWriterAlive says so', linuxOnly, async (t) => {
  const zombie = await startZombie()
  assert.doesNotThrow(() => process.kill(zombie, 0), 'a zombie still answers kill(pid, 0)')
  assert.equal(isWriterAlive({ pid: zombie, host: hostname() }), false)

  const { dir } = makeTempDir(t)
  const lockFile = join(dir, '.env.keepalive.lock')
  writeFileSync(lockFile, JSON.stringify({ pid: zombie, host: hostname(), startedAt: Date.now() - 60_000, purpose: 'keepalive', nonce: 'zombie' }))
  const taken = tryAcquireLock(lockFile, 'keepalive')
  assert.ok(taken.lock, `refused, naming ${JSON.stringify(taken.owner)}`)
  taken.lock.release()
})

test('a zombie adapter\'s journal is swept: its sessions are deleted, the web chats stay', linuxOnly, async (t) => {
  const zombie = await startZombie()
  const sim = await startSimulator({ minGapMs: 50, seedWebChats: WEB_CHATS })
  t.after(() => sim.close())
  const { dir, envFile } = makeTempDir(t)
  const stateDir = join(dir, 'state')
  const fields = { model: 'gpt-4.1', temperature: 0.7, maxToken: 0, presencePenalty: 0, frequencyPenalty: 0, contextCount: 4 }
  // A session created a moment ago by the adapter that is now a zombie: fresh, so only its death makes it an orphan.
  const name = createSessionName()
  const orphan = sim.state.createSession('demo', { name, ...fields }).id
  mkdirSync(journalDir(stateDir), { recursive: true })
  writeFileSync(
    join(journalDir(stateDir), `${zombie}.json`),
    JSON.stringify({ pid: zombie, host: hostname(), startedAt: Date.now(), apiBase: sim.apiBase, sessions: [{ id: orphan, createdAt: Date.now(), name }] }),
  )
  assert.equal(readJournals(stateDir)[0]?.alive, false)

  const settings = loadSettings({ envFile, env: {}, overrides: { ...sim.adapterEnv(), XIPU_MIN_GAP_MS: '50', XIPU_STATE_DIR: stateDir } })
  const client = createXipuClient({ settings: () => settings, pacer: createPacer({ minGapMs: () => 50 }) })
  const result = await sweepOrphans({ client, stateDir, apiBase: sim.apiBase, maxRequestMs: settings.maxRequestMs })
  assert.deepEqual(result.deleted, [orphan])
  assert.deepEqual(listUserChats(sim).sort(), [...WEB_CHATS].sort())
  assert.deepEqual(readJournals(stateDir), [], 'the zombie\'s journal is forgotten')
})

test('a pid that now belongs to another process (another start time) is dead; an old record without one is judged by the pid', linuxOnly, async (t) => {
  const pid = startSleeper()
  const status = await waitFor('the sleeper\'s /proc entry', () => readProcessStatus(pid))
  const record = { pid, host: hostname() }
  assert.equal(isWriterAlive({ ...record, processStartTime: status.startTime }), true, 'the same process')
  assert.equal(isWriterAlive({ ...record, processStartTime: status.startTime - 1 }), false, 'the pid was reused')
  assert.equal(isWriterAlive(record), true, 'a record of an older version, without a start time')

  const { dir } = makeTempDir(t)
  const lockFile = join(dir, '.env.login.lock')
  const lock = (startTime: number, nonce: string) =>
    writeFileSync(lockFile, JSON.stringify({ ...record, processStartTime: startTime, startedAt: Date.now(), purpose: 'login', nonce }))
  lock(status.startTime, 'live')
  assert.equal(tryAcquireLock(lockFile, 'login').owner?.nonce, 'live', 'a live owner keeps its lock')
  lock(status.startTime - 1, 'reused')
  const taken = tryAcquireLock(lockFile, 'login')
  assert.ok(taken.lock, 'the lock of a pid that was reused is taken over')
  taken.lock.release()
})

test('journals and locks record the writer\'s start time', linuxOnly, (t) => {
  assert.equal(typeof PROCESS_START_TIME, 'number')
  assert.equal(PROCESS_START_TIME, readProcessStatus(process.pid)?.startTime)
  const { dir } = makeTempDir(t)
  const stateDir = join(dir, 'state')
  const journal = createJournal({ stateDir, apiBase: () => 'http://127.0.0.1/api/chat' })
  journal.add({ id: 1, createdAt: Date.now(), name: createSessionName() })
  assert.equal(JSON.parse(readFileSync(journal.file, 'utf8')).processStartTime, PROCESS_START_TIME)
  assert.equal(readJournals(stateDir)[0]?.alive, true)
  journal.remove(1)

  const lockFile = join(dir, 'x.lock')
  const taken = tryAcquireLock(lockFile, 'test')
  assert.equal(readLockOwner(lockFile)?.processStartTime, PROCESS_START_TIME)
  taken.lock!.release()
})
