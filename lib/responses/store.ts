/**
 * The responses kept for `previous_response_id`: in memory only, the newest
 * `XIPU_RESPONSES_KEEP` of them. The adapter is stateless towards the
 * platform (every request gets a fresh session), so a chained request gets
 * the whole earlier conversation from here, not from the platform.
 */
import { XipuError } from '../errors.ts'
import type { InputItem } from './request.ts'

export interface StoredResponse {
  /** The `response` object as the client got it. */
  response: Record<string, unknown>
  /** The conversation up to and including this response's output, as input items. */
  conversation: InputItem[]
}

/**
 * @example
 * const store = createResponseStore(() => settings().responsesKeep)
 * store.save(stored)
 * store.get('resp_…') // or a 404 that says responses are kept in memory only
 */
export function createResponseStore(keep: () => number) {
  // A Map iterates in insertion order: the first key is the oldest.
  const entries = new Map<string, StoredResponse>()
  return {
    save(stored: StoredResponse): void {
      const id = String(stored.response.id)
      entries.delete(id)
      entries.set(id, stored)
      const limit = keep()
      for (const oldest of entries.keys()) {
        if (entries.size <= limit) break
        entries.delete(oldest)
      }
    },
    /** The stored response, or `E_NOT_FOUND` naming `param`. */
    get(id: string, param = 'previous_response_id'): StoredResponse {
      const stored = entries.get(id)
      if (!stored) {
        throw new XipuError(
          'E_NOT_FOUND',
          `No response with id '${id}': responses are kept in memory only (the last ${keep()}, XIPU_RESPONSES_KEEP), and are lost when the adapter restarts. Send the whole conversation in 'input' instead.`,
          { param },
        )
      }
      return stored
    },
    delete(id: string): boolean {
      return entries.delete(id)
    },
    size: () => entries.size,
  }
}

export type ResponseStore = ReturnType<typeof createResponseStore>
