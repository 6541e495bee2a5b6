/**
 * A pool of stateless sessions. A session created with `contextCount: 0` and
 * no system prompt feeds no history to the model, so it can serve request
 * after request: the whole conversation travels in each prompt anyway. A
 * request then costs one paced platform call (its completion) instead of two
 * or three (create, completion, delete), and the account's session list stops
 * churning.
 *
 * A finished request gives its session back; the next takes a free one whose
 * parameters match, else a free one updated to fit (one `saveSession`), and a
 * new one is created only while every pooled one is busy. A request that must
 * wait queues a create at the pacer, and takes whichever comes first: a
 * session given back, or its create's turn (a create whose turn has not come
 * is withdrawn without costing a call). Sessions are retired after
 * `XIPU_POOL_MAX_USES` requests or `XIPU_POOL_IDLE` unused, and all at shutdown.
 *
 * Another adapter on the account sweeps a prefixed session that no journal of
 * its own names once its name is older than `XIPU_MAX_REQUEST`
 * (lib/sessions/sweep.ts): so a pooled session is renamed with a fresh time
 * before half that age, and never handed out older.
 */
import type { ConsolaInstance } from 'consola'
import { isXipuError, XipuError } from '../errors.ts'
import type { Settings } from '../settings.ts'
import type { CallOptions, SessionFields, XipuClient } from '../xipu/client.ts'
import type { Journal } from './journal.ts'
import { createSessionName } from './names.ts'

// The platform's cap on sessions per account, web chats included (see the protocol document).
export const SESSION_CAP = 50

/** The fields of a stateless session: no history fed back, no system prompt. */
export function toStatelessFields(fields: SessionFields): SessionFields & { contextCount: number; prompt: string } {
  return { ...fields, contextCount: 0, prompt: '' }
}

/** What makes two sessions interchangeable (everything but the name). */
export function sessionFieldsKey(f: SessionFields): string {
  return JSON.stringify([f.model, f.temperature, f.maxToken, f.presencePenalty, f.frequencyPenalty])
}

interface _Pooled {
  id: number
  fields: SessionFields
  /** When its name's time was set (ms since epoch). */
  namedAt: number
  uses: number
  lastUsedAt: number
  busy: boolean
}

interface _Waiter {
  fields: SessionFields
  signal?: AbortSignal
  resolve: (session: { id: number; reused: boolean }) => void
  reject: (error: unknown) => void
  /** Its create, while the create has not had its turn: withdrawn when a session comes first. */
  withdraw?: () => void
}

export interface PoolDeps {
  client: XipuClient
  journal: Journal
  settings: () => Settings
  log: ConsolaInstance
  /** Creates and journals a session (waiting for room under the cap while `wanted`). */
  create: (fields: SessionFields, options: CallOptions, wanted?: () => boolean) => Promise<{ id: number; contextCount?: number }>
  /** Deletes a session soon, through the batched delete. */
  remove: (id: number) => Promise<void>
  /** Room the cap leaves for the adapter's sessions beside the user's own chats, when known. */
  room: () => number | undefined
  /** A session is free in the pool (serving no request). */
  onFree: (id: number) => void
}

/**
 * @example
 * const pool = createSessionPool({ client, journal, settings, log, create, remove, room })
 * const { id } = await pool.acquire(fields, signal)
 * pool.giveBack(id, true)
 */
export function createSessionPool(deps: PoolDeps) {
  const sessions = new Map<number, _Pooled>()
  const waiters: _Waiter[] = []
  let creating = 0
  let closed = false
  // Whether the platform keeps contextCount 0: false once a session would not take it,
  // even by an update; the pool then stops (one fresh session a request, as without reuse).
  let stateless = true
  // Whether saveSession takes contextCount on create; learned from the first reply.
  let takesOnCreate: boolean | undefined

  const settings = () => deps.settings()
  const refreshAgeMs = () => Math.max(1000, Math.floor(settings().maxRequestMs / 2))
  const maxSize = () => Math.max(0, Math.min(settings().poolMax, deps.room() ?? Number.POSITIVE_INFINITY))

  function _journal(entry: _Pooled): void {
    deps.journal.add({ id: entry.id, createdAt: entry.namedAt, name: entry.fields.name, pooled: true })
  }

  /** The sessions serving no request. */
  function _free(): _Pooled[] {
    return [...sessions.values()].filter((s) => !s.busy)
  }

  /** Prefers a free session with the same parameters, then any free one. */
  function _takeFree(fields: SessionFields): _Pooled | undefined {
    const free = _free()
    const key = sessionFieldsKey(fields)
    const chosen = free.find((s) => sessionFieldsKey(s.fields) === key) ?? free[0]
    if (chosen) chosen.busy = true
    return chosen
  }

  /** Makes a taken session fit a request: one update when its parameters differ or its name is getting old. */
  async function _fit(session: _Pooled, fields: SessionFields, signal?: AbortSignal): Promise<{ id: number; reused: boolean }> {
    session.uses++
    session.lastUsedAt = Date.now()
    const stale = Date.now() - session.namedAt > refreshAgeMs()
    if (!stale && sessionFieldsKey(session.fields) === sessionFieldsKey(fields)) return { id: session.id, reused: true }
    try {
      await _update(session, { ...fields, name: stale ? createSessionName() : session.fields.name }, { signal })
    } catch (error) {
      _retire(session)
      throw error
    }
    return { id: session.id, reused: true }
  }

  /** One saveSession that makes `session` hold `fields`; a new name restarts its age and is journalled. */
  async function _update(session: _Pooled, fields: SessionFields, options: CallOptions): Promise<void> {
    await deps.client.saveSession({ ...toStatelessFields(fields), id: session.id }, options)
    const renamed = fields.name !== session.fields.name
    session.fields = fields
    if (!renamed) return
    session.namedAt = Date.now()
    _journal(session)
  }

  function _retire(session: _Pooled): void {
    sessions.delete(session.id)
    void deps.remove(session.id)
  }

  /** The oldest waiter whose client is still there, taken off the queue. */
  function _nextWaiter(): _Waiter | undefined {
    for (let waiter = waiters.shift(); waiter; waiter = waiters.shift()) if (!waiter.signal?.aborted) return waiter
    return undefined
  }

  /** A session comes free: to the oldest waiter, else back to the pool. */
  function _dispatch(session: _Pooled): void {
    const waiter = _nextWaiter()
    if (!waiter) {
      session.busy = false
      session.lastUsedAt = Date.now()
      deps.onFree(session.id)
      return
    }
    waiter.withdraw?.()
    session.busy = true
    _fit(session, waiter.fields, waiter.signal).then(waiter.resolve, waiter.reject)
  }

  /** Queues a create for `waiter`; withdrawn before its turn when a session comes first. */
  function _startCreate(waiter: _Waiter, pooled: boolean): void {
    const cancel = new AbortController()
    let turned = false
    const signal = waiter.signal ? AbortSignal.any([waiter.signal, cancel.signal]) : cancel.signal
    waiter.withdraw = () => {
      if (!turned) cancel.abort()
    }
    if (pooled) creating++
    const fields = { ...waiter.fields, name: createSessionName() }
    _createStateless(fields, { signal, owner: waiter.signal, onTurn: () => (turned = true) }, () => waiters.includes(waiter))
      .then(
        (created) => {
          const stillWaiting = waiters.indexOf(waiter)
          if (stillWaiting !== -1) waiters.splice(stillWaiting, 1)
          if (!pooled || !created.stateless || closed) {
            // Outside the pool: for one request only (this one, else the next waiting), then deleted.
            const taker = stillWaiting !== -1 ? waiter : _nextWaiter()
            if (taker) {
              taker.withdraw?.()
              taker.resolve({ id: created.id, reused: false })
            } else void deps.remove(created.id)
            return
          }
          const session: _Pooled = { id: created.id, fields, namedAt: Date.now(), uses: 0, lastUsedAt: Date.now(), busy: true }
          sessions.set(session.id, session)
          _journal(session)
          if (stillWaiting !== -1) {
            session.uses = 1
            waiter.resolve({ id: session.id, reused: false })
          } else _dispatch(session)
        },
        (error) => {
          const index = waiters.indexOf(waiter)
          if (index === -1) return // served by a session given back; the withdrawn create does not matter
          waiters.splice(index, 1)
          waiter.reject(error)
        },
      )
      .finally(() => {
        if (pooled) creating--
      })
  }

  /**
   * Creates a session with contextCount 0. Where the platform does not take it
   * on create (the reply says otherwise, or it refuses the field), one update
   * sets it; where it will not take it at all, the session is no use to the pool.
   */
  async function _createStateless(fields: SessionFields, options: CallOptions, wanted: () => boolean): Promise<{ id: number; stateless: boolean }> {
    let created: { id: number; contextCount?: number }
    if (takesOnCreate === false) created = await deps.create(fields, options, wanted)
    else {
      try {
        created = await deps.create(toStatelessFields(fields), options, wanted)
      } catch (error) {
        if (!isXipuError(error, 'E_UPSTREAM') || error.upstreamStatus !== undefined) throw error
        // A refusal (code ≠ 0) of the fields: once more without them, then an update.
        created = await deps.create(fields, options, wanted)
        takesOnCreate = false
      }
    }
    if (created.contextCount === 0) takesOnCreate ??= true
    if (takesOnCreate !== false && (created.contextCount === undefined || created.contextCount === 0)) return { id: created.id, stateless: true }
    takesOnCreate = false
    const updated = await deps.client.saveSession({ ...toStatelessFields(fields), id: created.id }, { owner: options.owner }).catch(() => undefined)
    if (updated && (updated.contextCount === undefined || updated.contextCount === 0)) return { id: created.id, stateless: true }
    if (stateless) {
      stateless = false
      deps.log.warn('The platform keeps feeding earlier turns to the model even with contextCount 0: sessions are not reused (one fresh session a request). Run npx tsx adapter.ts --check.')
    }
    return { id: created.id, stateless: false }
  }

  /** Retires free sessions unused for XIPU_POOL_IDLE, and renames those whose name gets old (idle priority). */
  function _maintain(): void {
    const now = Date.now()
    for (const session of sessions.values()) {
      if (session.busy) continue
      if (now - session.lastUsedAt >= settings().poolIdleMs || !settings().sessionReuse) _retire(session)
      else if (now - session.namedAt > refreshAgeMs()) void _rename(session)
    }
  }

  async function _rename(session: _Pooled): Promise<void> {
    session.busy = true
    try {
      await _update(session, { ...session.fields, name: createSessionName() }, { priority: 'idle', retries: 0 })
      if (closed) _retire(session)
      else _dispatch(session)
    } catch (error) {
      deps.log.debug(`Pooled session ${session.id} could not be renamed (${(error as Error).message}): deleted.`)
      _retire(session)
    }
  }

  const timer = setInterval(_maintain, Math.min(60_000, Math.max(250, Math.floor(Math.min(settings().poolIdleMs, refreshAgeMs()) / 4))))
  timer.unref()

  return {
    /** A session for a request: a free pooled one, else the first to come free or be created. */
    acquire(fields: SessionFields, signal?: AbortSignal): Promise<{ id: number; reused: boolean }> {
      const free = closed ? undefined : _takeFree(fields)
      if (free) return _fit(free, fields, signal)
      return new Promise((resolve, reject) => {
        const waiter: _Waiter = { fields, signal, resolve, reject }
        waiters.push(waiter)
        signal?.addEventListener(
          'abort',
          () => {
            const index = waiters.indexOf(waiter)
            if (index === -1) return
            waiters.splice(index, 1)
            reject(new XipuError('E_ABORTED', 'the client went away'))
          },
          { once: true },
        )
        const pooled = !closed && stateless && sessions.size + creating < maxSize()
        _startCreate(waiter, pooled)
      })
    },

    /** Whether `id` is a pooled session. */
    owns: (id: number) => sessions.has(id),

    /**
     * A request is done with its pooled session: back to the pool when it ended
     * cleanly, deleted when it did not or has served XIPU_POOL_MAX_USES requests.
     */
    giveBack(id: number, reusable: boolean): void {
      const session = sessions.get(id)
      if (!session) return
      // Also when reuse was turned off in .env meanwhile (settings are re-read on change).
      if (closed || !reusable || !stateless || !settings().sessionReuse || session.uses >= settings().poolMaxUses || sessions.size > maxSize()) _retire(session)
      else _dispatch(session)
    },

    /** Deletes the free sessions now (room under the cap); resolves with how many. */
    retireFree(): number {
      const free = _free()
      for (const session of free) _retire(session)
      return free.length
    },

    /** Pooled session ids (free and busy): the sweep must leave them alone. */
    ids: () => [...sessions.keys()],
    freeIds: () => _free().map((s) => s.id),
    size: () => sessions.size,
    /** Whether reuse is still on (off once the platform would not keep contextCount 0). */
    isStateless: () => stateless,

    /** Stops pooling: free sessions are deleted now, busy ones when given back. */
    close(): void {
      closed = true
      clearInterval(timer)
      for (const session of [...sessions.values()]) if (!session.busy) _retire(session)
    },
  }
}

export type SessionPool = ReturnType<typeof createSessionPool>
