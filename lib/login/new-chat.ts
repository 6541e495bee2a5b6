/**
 * A login must leave nothing behind. Where the chat page made no API call on
 * its own, the login clicks "New chat", and on a platform where that creates
 * a session (`saveSession`) every login would add one to the user's list: a
 * keepalive that logs in several times a day would fill the 50-session cap
 * within weeks, and the sweep never touches a session without the adapter's
 * prefix. So the login reads the ids of the sessions its click created off
 * the page's traffic, and this module deletes exactly those, once the browser
 * is closed (the page can make no more calls) and a gap after its last call
 * (the platform's rate limit counts the browser's calls too).
 */
import { createPacer, type Pacer } from '../xipu/pacer.ts'
import { createXipuClient } from '../xipu/client.ts'
import type { Settings } from '../settings.ts'
import type { LoginResult } from './capture.ts'

// On top of the gap: the page's last call may reach the platform a moment after it was seen.
const PAGE_CALL_MARGIN_MS = 100

/** Sessions the login's click created: `deleted`, or `left` (with the `error` why). */
export type NewChatCleanup = NonNullable<LoginResult['newChat']>

/**
 * Deletes the sessions the login's click created (`result.createdSessionIds`)
 * with the credentials it captured, through `pacer` (the adapter's, so that
 * the call keeps the gap to its calls; a fresh one otherwise). Never throws:
 * the login itself worked; what could not be deleted is reported.
 *
 * @example
 * const cleanup = await deleteLoginSessions(result, { settings, pacer })
 * if (cleanup.left.length > 0) log.warn(`Delete the chat ${cleanup.left.join(', ')} in the web app`)
 */
export async function deleteLoginSessions(result: LoginResult, options: { settings: Settings; pacer?: Pacer }): Promise<NewChatCleanup> {
  const ids = result.createdSessionIds ?? []
  if (ids.length === 0) return { deleted: [], left: [] }
  const settings: Settings = {
    ...options.settings,
    jmToken: result.jmToken,
    sdpSession: result.sdpSession,
    cookie: result.cookie,
    apiBase: result.apiBase ?? options.settings.apiBase,
  }
  const pacer = options.pacer ?? createPacer({ minGapMs: () => settings.minGapMs })
  const client = createXipuClient({ settings: () => settings, pacer })
  const wait = (result.lastApiCallAt ?? Number.NEGATIVE_INFINITY) + settings.minGapMs + PAGE_CALL_MARGIN_MS - performance.now()
  if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait))
  try {
    await client.deleteSessions(ids, { priority: 'cleanup', retries: 2 })
    return { deleted: ids, left: [] }
  } catch (error) {
    return { deleted: [], left: ids, error: (error as Error).message }
  }
}
