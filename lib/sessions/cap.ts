/**
 * The platform's 50-session cap, as the session manager sees it: the room it
 * leaves the adapter beside the user's own chats, whether the cap is near
 * (deletes then go before waiting requests), the wait for one of the
 * adapter's running requests to finish, the sweep that frees the adapter's
 * own orphans, and the error that says whose sessions fill it.
 */
import type { ConsolaInstance } from 'consola'
import { XipuError } from '../errors.ts'
import type { Settings } from '../settings.ts'
import type { XipuClient } from '../xipu/client.ts'
import type { Journal } from './journal.ts'
import { SESSION_CAP } from './pool.ts'
import { sweepOrphans } from './sweep.ts'

// After a cap refusal, deletes stay urgent this long: the cap is near.
const CAP_PRESSURE_MS = 60_000
// Near the cap: this few free places left, or fewer.
const CAP_MARGIN = 2

/** What a sweep at the cap found: sessions it deleted, the user's own, and all of them. */
export interface CapRoom {
  freed: number
  userSessions: number
  total: number
}

/**
 * @example
 * const cap = createCapWatch({ client, journal, settings, log })
 * cap.noteRefusal()
 * const room = await cap.makeRoom(activeIds, signal)
 */
export function createCapWatch(deps: { client: XipuClient; journal: Journal; settings: () => Settings; log: ConsolaInstance }) {
  // What the last listing said: the user's own sessions, and when the cap last refused a create.
  let userSessions: number | undefined
  let refusedAt = Number.NEGATIVE_INFINITY
  const releaseWaiters = new Set<() => void>()

  function room(): number | undefined {
    return userSessions === undefined ? undefined : Math.max(0, SESSION_CAP - userSessions)
  }

  return {
    /** Room under the cap for the adapter's sessions, once the user's chats are known. */
    room,

    /** Whether deletes should go before waiting requests: the cap refused lately, or is a few places away. */
    isNear(): boolean {
      if (Date.now() - refusedAt < CAP_PRESSURE_MS) return true
      const left = room()
      return left !== undefined && deps.journal.entries().length >= left - CAP_MARGIN
    },

    /** The platform refused a create at the cap just now. */
    noteRefusal(): void {
      refusedAt = Date.now()
    },

    /** What a listing said about the account: the room follows the user's own chats. */
    noteListing(listing: { userSessions: number }): void {
      userSessions = listing.userSessions
    },

    /** Resolves when one of the adapter's sessions is released (or `signal` aborts). */
    nextRelease(signal?: AbortSignal): Promise<void> {
      return new Promise((resolve) => {
        const done = () => {
          releaseWaiters.delete(done)
          signal?.removeEventListener('abort', done)
          resolve()
        }
        releaseWaiters.add(done)
        signal?.addEventListener('abort', done, { once: true })
      })
    },

    /** Wakes the creates that wait for one of the adapter's running requests to finish. */
    wakeReleaseWaiters(): void {
      for (const wake of [...releaseWaiters]) wake()
    },

    /** Frees room under the cap by sweeping the adapter's own orphans (never `activeIds`, never a web chat). */
    async makeRoom(activeIds: ReadonlySet<number>, signal?: AbortSignal): Promise<CapRoom> {
      const settings = deps.settings()
      if (signal?.aborted) throw new XipuError('E_ABORTED', 'the client went away')
      const result = await sweepOrphans({
        client: deps.client,
        stateDir: settings.stateDir,
        apiBase: settings.apiBase,
        // At the cap, any session of ours that no request is using is fair game;
        // another adapter's (no journal here) still only after XIPU_MAX_REQUEST.
        maxRequestMs: 0,
        foreignMaxAgeMs: settings.maxRequestMs,
        ownJournal: deps.journal,
        activeIds,
        log: deps.log,
      })
      userSessions = result.userSessions
      return { freed: result.deleted.length, userSessions: result.userSessions, total: result.totalSessions }
    },
  }
}

export type CapWatch = ReturnType<typeof createCapWatch>

/**
 * The cap is full of sessions the adapter may not delete: says whose they are
 * and what to do (delete web chats, or retry once running requests finish).
 */
export function capError(room: Omit<CapRoom, 'freed'>, cause: unknown): XipuError {
  const busy = room.total - room.userSessions
  const advice =
    room.userSessions >= busy
      ? 'Delete some of your chats at https://xipuai.xjtlu.edu.cn and retry.'
      : 'Retry when some of the running requests have finished, or lower XIPU_QUEUE_MAX.'
  return new XipuError(
    'E_SESSION_CAP',
    `The platform allows 50 sessions per account and yours holds ${room.total}: ${room.userSessions} are your own web chats and ${busy} belong to requests running now (this adapter's or another's); it has no orphans left to delete. ${advice}`,
    { cause, retryAfter: room.userSessions >= busy ? undefined : 5 },
  )
}
