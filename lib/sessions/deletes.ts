/**
 * The adapter's deletes of its sessions, batched. Deletes wait behind requests
 * at the pacer (cleanup priority), or go first near the session cap; every
 * session released while one waits joins that same call, so a burst of N
 * finished requests (under load, or at shutdown with a second between calls)
 * costs one `delSession`, not N. A session is forgotten by the journal once
 * deleted; one whose delete failed stays in it for the next sweep.
 */
import type { ConsolaInstance } from 'consola'
import { isXipuError } from '../errors.ts'
import type { XipuClient } from '../xipu/client.ts'
import type { Journal } from './journal.ts'

const DELETE_ATTEMPTS = 4 // each already retried by the client; then the sweeper takes over

/**
 * @example
 * const deleter = createBatchedDeleter({ client, journal, log, urgent: () => false })
 * await deleter.remove(id)
 */
export function createBatchedDeleter(deps: { client: XipuClient; journal: Journal; log: ConsolaInstance; /** Whether deletes go before waiting requests now (the cap is near). */ urgent: () => boolean }) {
  // The batch whose call waits for its turn: a release joins it.
  let batch: { ids: number[]; done: Promise<void>; hurry?: () => void } | undefined

  function remove(id: number): Promise<void> {
    if (batch) {
      batch.ids.push(id)
      if (deps.urgent()) batch.hurry?.()
      return batch.done
    }
    const ids = [id]
    batch = { ids, done: _deleteBatch(ids) }
    return batch.done
  }

  function hurry(): void {
    batch?.hurry?.()
  }

  async function _deleteBatch(ids: number[]): Promise<void> {
    // The batch closes when its call's turn comes; a later release starts the next one.
    const take = () => {
      if (batch?.ids === ids) batch = undefined
      return ids
    }
    for (let attempt = 1; attempt <= DELETE_ATTEMPTS; attempt++) {
      try {
        await _deleteOnce(ids, take)
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

  /** One delete call; while it waits for its turn, `hurry` re-queues it as urgent. */
  async function _deleteOnce(ids: number[], take: () => number[]): Promise<void> {
    let urgent = deps.urgent()
    for (;;) {
      const withdraw = new AbortController()
      let turned = false
      if (batch?.ids === ids) batch.hurry = urgent ? undefined : () => !turned && withdraw.abort()
      try {
        await deps.client.deleteSessions(take, { priority: 'cleanup', urgent, signal: withdraw.signal, onTurn: () => (turned = true) })
        return
      } catch (error) {
        if (!withdraw.signal.aborted || turned) throw error
        urgent = true
      }
    }
  }

  return {
    /** Deletes `id` with the next batch; resolves once deleted (or given up on). */
    remove,
    /** Moves a waiting delete ahead of the waiting requests (the cap was met). */
    hurry,
  }
}
