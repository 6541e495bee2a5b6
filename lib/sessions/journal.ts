/**
 * The durable record of the sessions an adapter created and has not yet
 * deleted. Each adapter process owns one file, `<stateDir>/journal/<pid>.json`,
 * written atomically before a session is used and after it is deleted; so a
 * crash leaves a list of exactly what to clean up, and two processes never
 * write the same file. The sweeper (lib/sessions/sweep.ts) reads all of them.
 *
 * A file with this process's pid that an earlier process left (a restarted
 * container is pid 1 again) is set aside as `<pid>-<time>.json` when the
 * journal is created, so that it is swept rather than overwritten.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs'
import { hostname } from 'node:os'
import { join } from 'node:path'
import { writeFileAtomic } from '../atomic-write.ts'
import { isWriterAlive, PROCESS_START_TIME, PROCESS_TOKEN } from '../process-identity.ts'

export interface JournalEntry {
  id: number
  /** When the session was created (ms since epoch). */
  createdAt: number
  name: string
  /**
   * A pooled session (lib/sessions/pool.ts): it outlives requests, and is the
   * adapter's own as long as the adapter lives. `createdAt` is when it was last named.
   */
  pooled?: boolean
}

export interface JournalFile {
  pid: number
  host: string
  /** The writer's `PROCESS_TOKEN` (lib/process-identity.ts). */
  processToken?: string
  /** The writer's start time on Linux (`PROCESS_START_TIME`): tells a reused pid; missing in older journals. */
  processStartTime?: number
  startedAt: number
  apiBase: string
  sessions: JournalEntry[]
}

/**
 * The journal folder inside a state folder.
 * @internal test hook: outside this module only tests use it.
 */
export function journalDir(stateDir: string): string {
  return join(stateDir, 'journal')
}

/**
 * This process's journal.
 *
 * @example
 * const journal = createJournal({ stateDir, apiBase })
 * journal.add({ id, createdAt: Date.now(), name })
 * journal.remove(id)
 */
export function createJournal(options: { stateDir: string; apiBase: () => string }) {
  const dir = journalDir(options.stateDir)
  const file = join(dir, `${process.pid}.json`)
  const entries = new Map<number, JournalEntry>()
  const startedAt = Date.now()
  _setAsideEarlierFile(file)

  function _write(): void {
    mkdirSync(dir, { recursive: true })
    if (entries.size === 0) {
      rmSync(file, { force: true })
      return
    }
    const data: JournalFile = { pid: process.pid, host: hostname(), processToken: PROCESS_TOKEN, processStartTime: PROCESS_START_TIME, startedAt, apiBase: options.apiBase(), sessions: [...entries.values()] }
    writeFileAtomic(file, JSON.stringify(data, null, 2))
  }

  return {
    file,
    add(entry: JournalEntry): void {
      entries.set(entry.id, entry)
      _write()
    },
    remove(id: number): void {
      if (entries.delete(id)) _write()
    },
    has: (id: number) => entries.has(id),
    entries: () => [...entries.values()],
  }
}

export type Journal = ReturnType<typeof createJournal>

/** Renames a journal with this pid that another process wrote (see the top of this file). */
function _setAsideEarlierFile(file: string): void {
  if (!existsSync(file)) return
  try {
    const data = JSON.parse(readFileSync(file, 'utf8')) as Partial<JournalFile>
    // Several adapters in one process (the tests) share their journal; a process on another
    // host sharing the folder cannot be judged from here.
    if (data.processToken === PROCESS_TOKEN || data.host !== hostname()) return
  } catch {
    // Unreadable: set aside all the same, never overwritten.
  }
  renameSync(file, file.replace(/\.json$/, `-${Date.now()}.json`))
}

/** Every journal file in the state folder, with whether its process is still alive. */
export function readJournals(stateDir: string): Array<JournalFile & { file: string; alive: boolean }> {
  const dir = journalDir(stateDir)
  let names: string[]
  try {
    names = readdirSync(dir).filter((n) => /^\d+(-\d+)?\.json$/.test(n))
  } catch {
    return []
  }
  const out: Array<JournalFile & { file: string; alive: boolean }> = []
  for (const name of names) {
    const file = join(dir, name)
    try {
      const data = JSON.parse(readFileSync(file, 'utf8')) as JournalFile
      if (!Array.isArray(data.sessions)) continue
      // A file set aside under a `-<time>` name belongs to an earlier process by construction.
      out.push({ ...data, file, alive: !name.includes('-') && isWriterAlive(data) })
    } catch {
      // Half-written files cannot exist (atomic writes); anything else is not ours.
    }
  }
  return out
}

/** Removes ids from a dead process's journal file (deletes the file when empty). */
export function forgetJournalEntries(file: string, ids: number[]): void {
  try {
    const data = JSON.parse(readFileSync(file, 'utf8')) as JournalFile
    data.sessions = data.sessions.filter((s) => !ids.includes(s.id))
    if (data.sessions.length === 0) rmSync(file, { force: true })
    else writeFileAtomic(file, JSON.stringify(data, null, 2))
  } catch {
    // Already gone.
  }
}
