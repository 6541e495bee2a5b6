/**
 * Session lifecycle. The adapter is stateless towards its clients: the whole
 * conversation travels in every prompt, so each request gets a fresh session
 * (no server-side history can leak in) and the session is deleted right after,
 * whatever happened: the platform caps each account at 50 sessions, web chats
 * included, and leftovers would soon lock the user out of their own web chat.
 *
 * Every session is journalled before it is used and forgotten once deleted.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import type { ConsolaInstance } from 'consola'
import { isXipuError, XipuError } from '../errors.ts'
import type { Journal } from './journal.ts'
import { createSessionName } from './names.ts'
import type { Settings } from '../settings.ts'
import { sweepOrphans } from './sweep.ts'
import type { SessionFields, XipuClient } from '../xipu/client.ts'

const DELETE_ATTEMPTS = 4 // each already retried by the client; then the sweeper takes over
// A ready session older than this is replaced: it may have been deleted in the web app,
// and the sweeper treats sessions older than XIPU_MAX_REQUEST (15 min) as orphans.
const READY_MAX_AGE_MS = 10 * 60_000

/** What makes two requests' sessions interchangeable (everything but the name). */
function _fieldsKey(f: SessionFields): string {
  return JSON.stringify([f.model, f.temperature, f.maxToken, f.presencePenalty, f.frequencyPenalty])
}

/** What a request asks of its session: the platform keeps these per session, not per call. */
export interface SessionParams {
  /** The platform's model id. */
  upstreamModel: string
  temperature: number
  /** `maxToken` of the session: 0 means no limit. */
  maxTokens: number
  presencePenalty: number
  frequencyPenalty: number
}

/** The session fields a request asks for. */
export function toSessionFields(request: SessionParams, now = new Date()): SessionFields {
  return {
    name: createSessionName(now),
    model: request.upstreamModel,
    temperature: request.temperature,
    maxToken: request.maxTokens,
    presencePenalty: request.presencePenalty,
    frequencyPenalty: request.frequencyPenalty,
  }
}

/**
 * @example
 * const sessions = createSessionManager({ client, journal, settings: () => store.get(), log })
 * const id = await sessions.acquire(request, signal)
 * try { … } finally { sessions.release(id) }
 */
export function createSessionManager(deps: { client: XipuClient; journal: Journal; settings: () => Settings; log: ConsolaInstance }) {
  const active = new Set<number>()
  const deleting = new Map<number, Promise<void>>()
  // The ready session: created while the adapter is idle, with the parameters of the
  // most recent request, so that the next request can go straight to completions.
  let ready: { id: number; fields: SessionFields; at: number } | undefined
  let preparing = false
  let lastFields: SessionFields | undefined
  let closed = false

  /**
   * Keeps one session ready. It waits at the pacer's `idle` priority, so it only
   * takes a turn when no request and no delete is waiting; a refusal (429, the
   * session cap) is not retried: the next request simply creates its own.
   */
  async function _prepare(): Promise<void> {
    if (closed || preparing || ready || !lastFields || !deps.settings().prepareSession) return
    preparing = true
    try {
      const fields = { ...lastFields, name: createSessionName() }
      const { id } = await deps.client.saveSession(fields, { priority: 'idle', retries: 0 })
      deps.journal.add({ id, createdAt: Date.now(), name: fields.name })
      if (closed) void _release(id)
      else ready = { id, fields, at: Date.now() }
    } catch (error) {
      deps.log.debug(`No ready session this time: ${(error as Error).message}`)
    } finally {
      preparing = false
    }
  }

  /** Takes the ready session if there is a fresh one (a stale one is deleted). */
  function _takeReady(): typeof ready {
    const taken = ready
    ready = undefined
    if (taken && Date.now() - taken.at > READY_MAX_AGE_MS) {
      void _release(taken.id)
      return undefined
    }
    return taken
  }

  function _release(id: number): Promise<void> {
    active.delete(id)
    const existing = deleting.get(id)
    if (existing) return existing
    const promise = _delete(id).finally(() => deleting.delete(id))
    deleting.set(id, promise)
    return promise
  }

  async function _create(fields: SessionFields, signal?: AbortSignal): Promise<number> {
    const { id } = await deps.client.saveSession(fields, { signal })
    // Journal first, then use: a crash from here on leaves a record to clean up.
    deps.journal.add({ id, createdAt: Date.now(), name: fields.name })
    active.add(id)
    return id
  }

  /** Frees room under the 50-session cap by sweeping the adapter's own orphans. */
  async function _makeRoom(signal?: AbortSignal): Promise<{ freed: number; userSessions: number; total: number }> {
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
      activeIds: active,
      log: deps.log,
    })
    return { freed: result.deleted.length, userSessions: result.userSessions, total: result.totalSessions }
  }

  // Deletes wait behind requests (cleanup priority). Every session released while one
  // waits joins that same call: a burst of N finished requests (under load, or at
  // shutdown with a second between calls) costs one delSession, not N.
  let batch: { ids: number[]; done: Promise<void> } | undefined

  function _delete(id: number): Promise<void> {
    if (batch) {
      batch.ids.push(id)
      return batch.done
    }
    const ids = [id]
    batch = { ids, done: _deleteBatch(ids) }
    return batch.done
  }

  async function _deleteBatch(ids: number[]): Promise<void> {
    // The batch closes when its call's turn comes; a later release starts the next one.
    const take = () => {
      if (batch?.ids === ids) batch = undefined
      return ids
    }
    for (let attempt = 1; attempt <= DELETE_ATTEMPTS; attempt++) {
      try {
        await deps.client.deleteSessions(take, { priority: 'cleanup' })
        for (const id of ids) deps.journal.remove(id)
        return
      } catch (error) {
        if (attempt === DELETE_ATTEMPTS || isXipuError(error, 'E_TOKEN_EXPIRED', 'E_NO_TOKEN')) {
          take()
          deps.log.warn(`Could not delete session(s) ${ids.join(', ')} (${(error as Error).message}); they stay in the journal and the next sweep deletes them.`)
          return
        }
      }
    }
  }

  return {
    /**
     * A session for `request`: the ready one when there is one (updated with
     * `saveSession` and its id if the parameters differ: one call either way,
     * and it saves the ready one's delete), else a new one. At the session cap,
     * sweeps the adapter's orphans once and tries again.
     */
    async acquire(request: SessionParams, signal?: AbortSignal): Promise<{ id: number; reused: boolean }> {
      const fields = toSessionFields(request)
      lastFields = fields
      const taken = _takeReady()
      if (taken) {
        active.add(taken.id)
        if (_fieldsKey(taken.fields) === _fieldsKey(fields)) return { id: taken.id, reused: true }
        try {
          await deps.client.saveSession({ ...fields, name: taken.fields.name, id: taken.id }, { signal })
          return { id: taken.id, reused: true }
        } catch (error) {
          void _release(taken.id)
          throw error
        }
      }
      try {
        return { id: await _create(fields, signal), reused: false }
      } catch (error) {
        if (!isXipuError(error, 'E_SESSION_CAP')) throw error
        const room = await _makeRoom(signal)
        if (room.freed > 0) {
          deps.log.info(`Session cap reached: deleted ${room.freed} orphan session(s) of the adapter, retrying.`)
          return { id: await _create(fields, signal), reused: false }
        }
        const busy = room.total - room.userSessions
        const advice =
          room.userSessions >= busy
            ? 'Delete some of your chats at https://xipuai.xjtlu.edu.cn and retry.'
            : 'Retry when some of the running requests have finished, or lower XIPU_QUEUE_MAX.'
        throw new XipuError(
          'E_SESSION_CAP',
          `The platform allows 50 sessions per account and yours holds ${room.total}: ${room.userSessions} are your own web chats and ${busy} belong to requests the adapter is running now; it has no orphans left to delete. ${advice}`,
          { cause: error, retryAfter: room.userSessions >= busy ? undefined : 5 },
        )
      }
    },

    /**
     * Deletes the session soon (through the pacer, behind waiting requests) and
     * forgets it; then, once the adapter is idle, prepares the next ready session.
     */
    release(id: number): Promise<void> {
      const promise = _release(id)
      void _prepare()
      return promise
    },

    /** The ready session's id, if one is waiting. */
    readyId: () => ready?.id,

    /** Sessions in use by a request right now. */
    activeCount: () => active.size,
    /** Ids a sweep must not touch: sessions in use, and the ready session. */
    activeIds: (): ReadonlySet<number> => (ready ? new Set([...active, ready.id]) : active),
    /** Sessions created and not yet deleted (in use, or waiting for their delete). */
    inFlight: () => deps.journal.entries().length,

    /**
     * Deletes again this process's journalled sessions that no request uses and
     * no delete is carrying, older than `minAgeMs`: their delete failed (say,
     * with a token that had just expired). This process knows they are done, so
     * they need not wait for XIPU_MAX_REQUEST as another process's would.
     * Resolves with how many are gone now.
     */
    async retryLeftovers(minAgeMs: number): Promise<number> {
      const now = Date.now()
      const ids = deps.journal
        .entries()
        .filter((e) => !active.has(e.id) && e.id !== ready?.id && !deleting.has(e.id) && now - e.createdAt >= minAgeMs)
        .map((e) => e.id)
      if (ids.length === 0) return 0
      await Promise.all(ids.map(_release))
      const gone = ids.filter((id) => !deps.journal.has(id))
      if (gone.length > 0) deps.log.info(`Deleted ${gone.length} session(s) whose delete had failed: ${gone.join(', ')}`)
      return gone.length
    },

    /** Stops preparing sessions and deletes the ready one (shutdown). */
    close(): void {
      closed = true
      const taken = ready
      ready = undefined
      if (taken) void _release(taken.id)
    },

    /** Waits for every pending delete, at most `timeoutMs`. */
    async drain(timeoutMs: number): Promise<void> {
      const giveUp = new AbortController()
      await Promise.race([Promise.allSettled([...deleting.values()]), sleep(timeoutMs, undefined, { signal: giveUp.signal }).catch(() => {})])
      giveUp.abort()
    },
  }
}

export type SessionManager = ReturnType<typeof createSessionManager>
