/**
 * Session lifecycle. The adapter is stateless towards its clients: the whole
 * conversation travels in every prompt, so each request gets a fresh session
 * (no server-side history can leak in) and the session is deleted right after,
 * whatever happened: the platform caps each account at 50 sessions, web chats
 * included, and leftovers would soon lock the user out of their own web chat.
 *
 * Every session is journalled before it is used and forgotten once deleted.
 */
import type { ConsolaInstance } from 'consola'
import { isXipuError, XipuError } from './errors.ts'
import type { Journal } from './journal.ts'
import type { ChatRequest } from './openai-request.ts'
import { createSessionName } from './session-names.ts'
import type { Settings } from './settings.ts'
import { sweepOrphans } from './sweep.ts'
import type { SessionFields, XipuClient } from './xipu-client.ts'

const DELETE_ATTEMPTS = 4 // each already retried by the client; then the sweeper takes over

/** The session fields a request asks for. */
export function toSessionFields(request: ChatRequest, now = new Date()): SessionFields {
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
      // At the cap, any session of ours that no request is using is fair game.
      maxRequestMs: 0,
      ownJournal: deps.journal,
      activeIds: active,
      log: deps.log,
    })
    return { freed: result.deleted.length, userSessions: result.userSessions, total: result.totalSessions }
  }

  async function _delete(id: number): Promise<void> {
    for (let attempt = 1; attempt <= DELETE_ATTEMPTS; attempt++) {
      try {
        await deps.client.deleteSessions([id], { priority: 'cleanup' })
        deps.journal.remove(id)
        return
      } catch (error) {
        if (attempt === DELETE_ATTEMPTS || isXipuError(error, 'E_TOKEN_EXPIRED', 'E_NO_TOKEN')) {
          deps.log.warn(`Could not delete session ${id} (${(error as Error).message}); it stays in the journal and the next sweep deletes it.`)
          return
        }
      }
    }
  }

  return {
    /** Creates a session for `request`; at the session cap, sweeps orphans once and tries again. */
    async acquire(request: ChatRequest, signal?: AbortSignal): Promise<number> {
      const fields = toSessionFields(request)
      try {
        return await _create(fields, signal)
      } catch (error) {
        if (!isXipuError(error, 'E_SESSION_CAP')) throw error
        const room = await _makeRoom(signal)
        if (room.freed > 0) {
          deps.log.info(`Session cap reached: deleted ${room.freed} orphan session(s) of the adapter, retrying.`)
          return _create(fields, signal)
        }
        throw new XipuError(
          'E_SESSION_CAP',
          `The platform allows 50 sessions per account and yours holds ${room.total}: ${room.userSessions} of them are your own web chats, and the adapter has none left to delete. Delete some chats at https://xipuai.xjtlu.edu.cn and retry.`,
          { cause: error },
        )
      }
    },

    /** Deletes the session soon (through the pacer, behind waiting requests) and forgets it. */
    release(id: number): Promise<void> {
      active.delete(id)
      const existing = deleting.get(id)
      if (existing) return existing
      const promise = _delete(id).finally(() => deleting.delete(id))
      deleting.set(id, promise)
      return promise
    },

    /** Sessions in use by a request right now. */
    activeCount: () => active.size,
    activeIds: (): ReadonlySet<number> => active,
    /** Sessions created and not yet deleted (in use, or waiting for their delete). */
    inFlight: () => deps.journal.entries().length,

    /** Waits for every pending delete, at most `timeoutMs`. */
    async drain(timeoutMs: number): Promise<void> {
      let timer: NodeJS.Timeout | undefined
      await Promise.race([Promise.allSettled([...deleting.values()]), new Promise((r) => (timer = setTimeout(r, timeoutMs)))])
      clearTimeout(timer)
    },
  }
}

export type SessionManager = ReturnType<typeof createSessionManager>
