/**
 * Lock files: one owner at a time for a job that must not run twice (the
 * keepalive of one `.env`, a browser login that writes it). The file holds
 * the owner's pid, host, process token and (on Linux) start time, is created atomically (a hard link
 * of a finished file, so nobody ever reads half a lock), and is taken over
 * when its owner is dead: a keepalive that crashed must not block the next
 * one for ever, not even when it comes back with the same pid, and not when
 * it lingers as a zombie that no parent reaps.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { linkSync, mkdirSync, openSync, closeSync, readFileSync, renameSync, rmSync, statSync, writeSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { hostname } from 'node:os'
import { dirname } from 'node:path'
import { XipuError } from './errors.ts'
import { isWriterAlive, PROCESS_START_TIME, PROCESS_TOKEN } from './process-identity.ts'

// A lock file that cannot be parsed and is older than this is debris (a copy,
// a disk that filled up): taken over. Younger ones may be mid-creation by the
// fallback path of filesystems without hard links.
const UNREADABLE_GRACE_MS = 10_000
const POLL_MS = 250

export interface LockOwner {
  pid: number
  host: string
  /** The owner's `PROCESS_TOKEN` (lib/process-identity.ts): a restarted process may have the same pid. */
  processToken?: string
  /** The owner's start time on Linux (`PROCESS_START_TIME`): tells a reused pid; missing in older locks. */
  processStartTime?: number
  /** When the owner took the lock (ms since epoch). */
  startedAt: number
  /** What the lock is for, for messages: `keepalive`, `login`. */
  purpose: string
  /** Tells two takes of the same pid apart. */
  nonce: string
}

export interface HeldLock {
  file: string
  owner: LockOwner
  /** Removes the lock file if it is still ours. Idempotent. */
  release(): void
}

/** Who holds `file` now, or `undefined` (no file, or not a lock). */
export function readLockOwner(file: string): LockOwner | undefined {
  try {
    const owner = JSON.parse(readFileSync(file, 'utf8')) as LockOwner
    return Number.isInteger(owner.pid) && typeof owner.nonce === 'string' ? owner : undefined
  } catch {
    return undefined
  }
}

/**
 * Takes the lock if it is free or its owner is dead; otherwise reports the owner.
 *
 * @example
 * const taken = tryAcquireLock('/home/me/xipu/.env.keepalive.lock', 'keepalive')
 * if (!taken.lock) console.log(`pid ${taken.owner?.pid} runs it`)
 */
export function tryAcquireLock(file: string, purpose: string): { lock?: HeldLock; owner?: LockOwner } {
  mkdirSync(dirname(file), { recursive: true })
  const owner: LockOwner = { pid: process.pid, host: hostname(), processToken: PROCESS_TOKEN, processStartTime: PROCESS_START_TIME, startedAt: Date.now(), purpose, nonce: randomBytes(8).toString('hex') }
  // Two rounds: the second follows the takeover of a dead owner's lock.
  for (let round = 0; round < 2; round++) {
    if (_create(file, owner)) return { lock: _held(file, owner) }
    const current = readLockOwner(file)
    if (current && isWriterAlive(current)) return { owner: current }
    if (!current && !_isOldDebris(file)) return {}
    if (!_takeOver(file, current)) return { owner: readLockOwner(file) }
  }
  return { owner: readLockOwner(file) }
}

/**
 * Takes the lock, waiting up to `waitMs` while a live owner holds it. Throws
 * `E_LOCKED` (naming the owner) when it is still held after that.
 *
 * @example
 * const lock = await acquireLock(`${envFile}.login.lock`, { purpose: 'login', waitMs: 180_000 })
 * try { await login() } finally { lock.release() }
 */
export async function acquireLock(file: string, options: { purpose: string; waitMs?: number; signal?: AbortSignal }): Promise<HeldLock & { waited: boolean }> {
  const deadline = Date.now() + (options.waitMs ?? 0)
  for (let waited = false; ; waited = true) {
    const taken = tryAcquireLock(file, options.purpose)
    if (taken.lock) return { ...taken.lock, waited }
    if (Date.now() >= deadline || options.signal?.aborted) {
      const who = taken.owner ? `process ${taken.owner.pid} (since ${new Date(taken.owner.startedAt).toLocaleString()})` : 'another process'
      throw new XipuError('E_LOCKED', `${who} holds ${file} (${taken.owner?.purpose ?? options.purpose}).`)
    }
    await sleep(POLL_MS)
  }
}

/** Creates the lock file with its content in one step; false when it exists. */
function _create(file: string, owner: LockOwner): boolean {
  const content = JSON.stringify(owner)
  const temp = `${file}.${owner.nonce}.tmp`
  try {
    _writeNew(temp, content)
    try {
      linkSync(temp, file)
      return true
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code
      if (code === 'EEXIST') return false
      // No hard links here (some network and FAT filesystems): exclusive create instead.
      if (code === 'EPERM' || code === 'ENOTSUP' || code === 'ENOSYS' || code === 'EXDEV') return _createExclusive(file, content)
      throw error
    } finally {
      rmSync(temp, { force: true })
    }
  } catch (error) {
    throw new XipuError('E_ENV_FILE', `Cannot create the lock file ${file}: ${(error as Error).message}`, { cause: error })
  }
}

function _createExclusive(file: string, content: string): boolean {
  try {
    _writeNew(file, content)
    return true
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false
    throw error
  }
}

function _writeNew(path: string, content: string): void {
  const fd = openSync(path, 'wx', 0o600)
  try {
    writeSync(fd, content)
  } finally {
    closeSync(fd)
  }
}

function _isOldDebris(file: string): boolean {
  try {
    return Date.now() - statSync(file).mtimeMs > UNREADABLE_GRACE_MS
  } catch {
    return true // gone meanwhile: the next round creates it
  }
}

/**
 * Moves a dead owner's lock aside, then checks that what was moved is the lock
 * judged dead: if a live process took it over in between, it is put back.
 * Returns whether the way is clear.
 */
function _takeOver(file: string, dead: LockOwner | undefined): boolean {
  const aside = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.stale`
  try {
    renameSync(file, aside)
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ENOENT'
  }
  const moved = readLockOwner(aside)
  if (moved?.nonce === dead?.nonce || (moved && !isWriterAlive(moved))) {
    rmSync(aside, { force: true })
    return true
  }
  try {
    linkSync(aside, file)
  } catch {
    // Someone else holds it now; theirs stands.
  }
  rmSync(aside, { force: true })
  return false
}

function _held(file: string, owner: LockOwner): HeldLock {
  let released = false
  const release = () => {
    if (released) return
    released = true
    process.off('exit', release)
    // Only our own lock: a lock taken over after we were judged dead is not ours any more.
    if (readLockOwner(file)?.nonce === owner.nonce) rmSync(file, { force: true })
  }
  // A normal exit releases it; a crash leaves it for the next owner to take over.
  process.on('exit', release)
  return { file, owner, release }
}
