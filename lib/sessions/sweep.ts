/**
 * Finds and deletes orphan sessions: sessions an adapter created and never
 * deleted (it crashed, the machine slept, the network dropped). Only the
 * adapter's own sessions are ever deleted: those its journals name, and those
 * whose name carries the adapter's prefix; every other session is one of the
 * user's own web chats and is never touched. A prefixed session that no
 * journal in this state folder names may be another adapter's running request
 * (two adapters on one account): it is deleted only once older than
 * `XIPU_MAX_REQUEST`.
 */
import type { ConsolaInstance } from 'consola'
import { forgetJournalEntries, readJournals, type Journal } from './journal.ts'
import { isAdapterSessionName, sessionNameTime } from './names.ts'
import type { XipuClient, XipuSession } from '../xipu/client.ts'

// A prefixed session that no journal names yet may be a few milliseconds old
// (created, journal not yet written): never an orphan younger than this.
const UNJOURNALED_GRACE_MS = 60_000

export interface SweepOptions {
  client: XipuClient
  stateDir: string
  apiBase: string
  /** The longest a request may take: a live adapter's session older than this is an orphan. */
  maxRequestMs: number
  /**
   * A prefixed session that no journal here names is an orphan only when its
   * name says it is older than this (default `maxRequestMs`, at least a
   * minute): it may be a running request of another adapter on the same
   * account (another state folder, another machine), whose liveness cannot be
   * seen from here. Pass `XIPU_MAX_REQUEST` when `maxRequestMs` is lowered.
   */
  foreignMaxAgeMs?: number
  /** This process's journal and the ids it is using right now (never swept). */
  ownJournal?: Journal
  activeIds?: ReadonlySet<number>
  log?: ConsolaInstance
  now?: number
}

export interface SweepResult {
  /** Sessions deleted. */
  deleted: number[]
  /** Sessions on the platform that are the user's own (not the adapter's). */
  userSessions: number
  /** Sessions on the platform in all. */
  totalSessions: number
}

// Orphan id → the journal file to update once it is gone: a dead process's file,
// `undefined` for this process's own journal, '' for a live process's (left to it).
type Candidates = Map<number, string | undefined>

/** The sessions the journals name, and those of them that are orphans (dead writer, or too old). */
function _journaledOrphans(journals: ReturnType<typeof readJournals>, options: SweepOptions, now: number, active: ReadonlySet<number>) {
  const ownFile = options.ownJournal?.file
  const journaled = new Set<number>()
  const candidates: Candidates = new Map()
  for (const journal of journals) {
    const own = journal.file === ownFile
    for (const entry of journal.sessions) {
      journaled.add(entry.id)
      if (own && active.has(entry.id)) continue
      // A pooled session serves request after request while its adapter lives, which retires it.
      if (journal.alive && entry.pooled) continue
      const old = now - entry.createdAt > options.maxRequestMs
      if (!journal.alive) candidates.set(entry.id, journal.file)
      else if (old) candidates.set(entry.id, own ? undefined : '')
    }
  }
  return { journaled, candidates }
}

/**
 * Adds the prefixed sessions that no journal here names and whose name says
 * they are older than `foreignMaxAgeMs`; counts the user's own sessions.
 */
function _addForeignOrphans(sessions: XipuSession[], candidates: Candidates, known: (id: number) => boolean, options: SweepOptions, now: number): number {
  const foreignMaxAgeMs = Math.max(options.foreignMaxAgeMs ?? options.maxRequestMs, UNJOURNALED_GRACE_MS)
  let userSessions = 0
  for (const session of sessions) {
    if (!isAdapterSessionName(session.name)) {
      userSessions++
      continue
    }
    if (known(session.id)) continue
    // No journal here names it: its age, read off its name, is all there is to go
    // by. Without one (a name of another version) it is left alone. So a session an
    // adapter keeps longer than XIPU_MAX_REQUEST (a pooled or ready one) must be
    // retired, or renamed with a fresh time, before that age: another adapter on
    // the account cannot see that it is alive.
    const createdAt = sessionNameTime(session.name)
    if (createdAt !== undefined && now - createdAt > foreignMaxAgeMs) candidates.set(session.id, undefined)
  }
  return userSessions
}

/** Forgets the journal entries of sessions deleted now or already gone. */
function _forgetGone(journals: ReturnType<typeof readJournals>, candidates: Candidates, existing: ReadonlyMap<number, unknown>, deleted: number[], ownJournal: Journal | undefined): void {
  const forget = new Map<string, number[]>()
  for (const [id, file] of candidates) {
    if (existing.has(id) && !deleted.includes(id)) continue
    if (file) forget.set(file, [...(forget.get(file) ?? []), id])
    else if (file === undefined) ownJournal?.remove(id)
  }
  for (const journal of journals) {
    if (journal.alive) continue
    const gone = journal.sessions.filter((s) => !existing.has(s.id)).map((s) => s.id)
    forget.set(journal.file, [...new Set([...(forget.get(journal.file) ?? []), ...gone])])
  }
  for (const [file, ids] of forget) if (ids.length > 0) forgetJournalEntries(file, ids)
}

/**
 * Lists the platform's sessions (one call), then deletes every orphan in one
 * more call. Journal entries of sessions that no longer exist are forgotten.
 *
 * @example
 * const { deleted } = await sweepOrphans({ client, stateDir, apiBase, maxRequestMs })
 */
export async function sweepOrphans(options: SweepOptions): Promise<SweepResult> {
  const now = options.now ?? Date.now()
  const journals = readJournals(options.stateDir).filter((j) => j.apiBase === options.apiBase)
  const active = options.activeIds ?? new Set<number>()
  const { journaled, candidates } = _journaledOrphans(journals, options, now, active)

  const sessions = await options.client.listSessions({ priority: 'cleanup' })
  const existing = new Map(sessions.map((s) => [s.id, s]))
  const userSessions = _addForeignOrphans(sessions, candidates, (id) => journaled.has(id) || active.has(id), options, now)

  // Delete only what exists and, where the platform tells its name, carries our prefix.
  const toDelete = [...candidates.keys()].filter((id) => {
    const session = existing.get(id)
    return session !== undefined && (session.name === undefined || isAdapterSessionName(session.name))
  })
  if (toDelete.length > 0) {
    await options.client.deleteSessions(toDelete, { priority: 'cleanup' })
    options.log?.info(`Swept ${toDelete.length} orphan session(s) left by earlier requests: ${toDelete.join(', ')}`)
  }
  _forgetGone(journals, candidates, existing, toDelete, options.ownJournal)
  return { deleted: toDelete, userSessions, totalSessions: sessions.length - toDelete.length }
}
