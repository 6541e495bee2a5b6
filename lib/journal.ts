/**
 * The durable record of the sessions an adapter created and has not yet
 * deleted. Each adapter process owns one file, `<stateDir>/journal/<pid>.json`,
 * written atomically before a session is used and after it is deleted; so a
 * crash leaves a list of exactly what to clean up, and two processes never
 * write the same file. The sweeper (lib/sweep.ts) reads all of them.
 */
import { mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { hostname } from 'node:os'
import { join } from 'node:path'
import { writeFileAtomic } from './env-file.ts'

export interface JournalEntry {
  id: number
  /** When the session was created (ms since epoch). */
  createdAt: number
  name: string
}

export interface JournalFile {
  pid: number
  host: string
  startedAt: number
  apiBase: string
  sessions: JournalEntry[]
}

/** The journal folder inside a state folder. */
export function journalDir(stateDir: string): string {
  return join(stateDir, 'journal')
}

/** Whether a process id is alive on this machine (signal 0 checks without sending). */
export function isProcessAlive(pid: number): boolean {
  if (pid === process.pid) return true
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    // EPERM: it exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
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

  function _write(): void {
    mkdirSync(dir, { recursive: true })
    if (entries.size === 0) {
      rmSync(file, { force: true })
      return
    }
    const data: JournalFile = { pid: process.pid, host: hostname(), startedAt, apiBase: options.apiBase(), sessions: [...entries.values()] }
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

/** Every journal file in the state folder, with whether its process is still alive. */
export function readJournals(stateDir: string): Array<JournalFile & { file: string; alive: boolean }> {
  const dir = journalDir(stateDir)
  let names: string[]
  try {
    names = readdirSync(dir).filter((n) => /^\d+\.json$/.test(n))
  } catch {
    return []
  }
  const out: Array<JournalFile & { file: string; alive: boolean }> = []
  for (const name of names) {
    const file = join(dir, name)
    try {
      const data = JSON.parse(readFileSync(file, 'utf8')) as JournalFile
      if (!Array.isArray(data.sessions)) continue
      out.push({ ...data, file, alive: data.host === hostname() ? isProcessAlive(data.pid) : true })
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
