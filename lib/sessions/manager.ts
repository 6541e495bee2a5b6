/**
 * Session lifecycle. The adapter is stateless towards its clients: the whole
 * conversation travels in every prompt, so no server-side history may reach
 * the model. By default requests are served from a pool of sessions that feed
 * no history (`contextCount: 0`, lib/sessions/pool.ts); with
 * `XIPU_SESSION_REUSE=0` each request gets a fresh session, deleted right
 * after. Either way, whatever happened, nothing is left behind: the platform
 * caps each account at 50 sessions, web chats included, and leftovers would
 * soon lock the user out of their own web chat.
 *
 * Every session is journalled before it is used and forgotten once deleted.
 * At the cap, the adapter's own finished sessions are deleted first (ahead of
 * waiting requests), and a request waits for that room rather than fail
 * (lib/sessions/cap.ts).
 */
import { setTimeout as sleep } from 'node:timers/promises'
import type { ConsolaInstance } from 'consola'
import { isXipuError, XipuError } from '../errors.ts'
import type { Journal } from './journal.ts'
import { createSessionName } from './names.ts'
import type { Settings } from '../settings.ts'
import { createBatchedDeleter } from './deletes.ts'
import { capError, createCapWatch } from './cap.ts'
import { createSessionPool, sessionFieldsKey } from './pool.ts'
import type { CallOptions, SessionFields, XipuClient } from '../xipu/client.ts'

// A ready session older than this is replaced: it may have been deleted in the web app,
// and the sweeper treats sessions older than XIPU_MAX_REQUEST (15 min) as orphans.
const READY_MAX_AGE_MS = 10 * 60_000

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
  const cap = createCapWatch(deps)
  const deleter = createBatchedDeleter({ client: deps.client, journal: deps.journal, log: deps.log, urgent: () => cap.isNear() })
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
    cap.wakeReleaseWaiters()
    const existing = deleting.get(id)
    if (existing) return existing
    const promise = deleter.remove(id).finally(() => deleting.delete(id))
    deleting.set(id, promise)
    return promise
  }

  async function _create(fields: SessionFields, options: CallOptions): Promise<{ id: number; contextCount?: number }> {
    const created = await deps.client.saveSession(fields, options)
    // Journal first, then use: a crash from here on leaves a record to clean up.
    deps.journal.add({ id: created.id, createdAt: Date.now(), name: fields.name })
    active.add(created.id)
    return created
  }

  /**
   * Creates a session. At the cap, makes room the way that loses nothing: the
   * adapter's own finished sessions first (pooled free ones, deletes pending,
   * urgently), then its orphans; while its own requests hold the rest, waits
   * for one to finish. Only a cap full of the user's own chats (or of another
   * adapter's running sessions) is an error.
   */
  async function _createWithRoom(fields: SessionFields, options: CallOptions, wanted: () => boolean = () => true): Promise<{ id: number; contextCount?: number }> {
    const deadline = Date.now() + deps.settings().queueTimeoutMs
    // The request got a session another way (one given back to the pool) meanwhile.
    const stopIfUnwanted = (cause: unknown) => {
      if (!wanted()) throw new XipuError('E_ABORTED', 'the session is no longer needed', { cause })
    }
    for (;;) {
      try {
        return await _create(fields, options)
      } catch (error) {
        if (!isXipuError(error, 'E_SESSION_CAP')) throw error
        stopIfUnwanted(error)
        cap.noteRefusal()
        const signal = options.signal
        const retired = pool.retireFree()
        deleter.hurry()
        if (retired > 0 || deleting.size > 0) {
          await Promise.allSettled([...deleting.values()])
          continue
        }
        // The adapter's own running requests hold the rest: the first to finish makes room.
        if (active.size > 0 && Date.now() < deadline && !signal?.aborted) {
          deps.log.debug(`Session cap reached: waiting for one of the adapter's ${active.size} running request(s) to finish.`)
          await cap.nextRelease(signal)
          stopIfUnwanted(error)
          continue
        }
        const room = await cap.makeRoom(new Set([...active, ...pool.ids()]), signal)
        if (room.freed > 0) {
          deps.log.info(`Session cap reached: deleted ${room.freed} orphan session(s) of the adapter, retrying.`)
          continue
        }
        if (signal?.aborted) throw new XipuError('E_ABORTED', 'the client went away')
        throw capError(room, error)
      }
    }
  }

  const pool = createSessionPool({ client: deps.client, journal: deps.journal, settings: deps.settings, log: deps.log, create: _createWithRoom, remove: (id) => _release(id), room: cap.room, onFree: (id) => active.delete(id) })

  return {
    /**
     * A session for `request`. With reuse on (the default), one from the pool
     * of stateless sessions. Without, the ready one when there is one (updated
     * with `saveSession` and its id if the parameters differ: one call either
     * way, and it saves the ready one's delete), else a new one. At the session
     * cap, room is made (see `_createWithRoom`).
     */
    async acquire(request: SessionParams, signal?: AbortSignal): Promise<{ id: number; reused: boolean }> {
      const fields = toSessionFields(request)
      if (deps.settings().sessionReuse && !closed) {
        const session = await pool.acquire(fields, signal)
        active.add(session.id)
        return session
      }
      lastFields = fields
      const taken = _takeReady()
      if (taken) {
        active.add(taken.id)
        if (sessionFieldsKey(taken.fields) === sessionFieldsKey(fields)) return { id: taken.id, reused: true }
        try {
          await deps.client.saveSession({ ...fields, name: taken.fields.name, id: taken.id }, { signal })
          return { id: taken.id, reused: true }
        } catch (error) {
          void _release(taken.id)
          throw error
        }
      }
      const { id } = await _createWithRoom(fields, { signal })
      return { id, reused: false }
    },

    /**
     * A request is done with its session. A pooled one goes back to the pool
     * when the request ended cleanly (`reusable`); any other is deleted soon
     * (through the pacer, behind waiting requests, or first near the cap) and
     * forgotten. Then, once the adapter is idle, the next ready session is prepared.
     */
    release(id: number, outcome: { reusable?: boolean } = {}): Promise<void> {
      if (pool.owns(id)) {
        active.delete(id)
        pool.giveBack(id, outcome.reusable === true)
        cap.wakeReleaseWaiters()
        return deleting.get(id) ?? Promise.resolve()
      }
      const promise = _release(id)
      if (!deps.settings().sessionReuse) void _prepare()
      return promise
    },

    /** What a sweep's listing said about the account: the room the cap leaves the pool follows it. */
    noteListing: cap.noteListing,

    /** The ready session's id, if one is waiting. */
    readyId: () => ready?.id,

    /** Sessions in use by a request right now. */
    activeCount: () => active.size,
    /** Ids a sweep must not touch: sessions in use, the ready session, the pooled ones. */
    activeIds: (): ReadonlySet<number> => new Set([...active, ...(ready ? [ready.id] : []), ...pool.ids()]),
    /** The pool of stateless sessions (sizes, for the status page and tests). */
    pool: { size: pool.size, freeIds: pool.freeIds, isStateless: pool.isStateless },
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
        .filter((e) => !active.has(e.id) && e.id !== ready?.id && !pool.owns(e.id) && !deleting.has(e.id) && now - e.createdAt >= minAgeMs)
        .map((e) => e.id)
      if (ids.length === 0) return 0
      await Promise.all(ids.map(_release))
      const gone = ids.filter((id) => !deps.journal.has(id))
      if (gone.length > 0) deps.log.info(`Deleted ${gone.length} session(s) whose delete had failed: ${gone.join(', ')}`)
      return gone.length
    },

    /** Stops preparing and pooling sessions; deletes the ready one and the free pooled ones (shutdown). */
    close(): void {
      closed = true
      pool.close()
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
