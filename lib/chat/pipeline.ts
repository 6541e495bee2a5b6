/**
 * The pipeline of one chat request: a session (pooled, fresh, or the one kept
 * ready), the completion call, and the session's return to the pool or its
 * delete afterwards, whatever happened.
 * A platform 403 is healed once by logging in again, when a login is possible.
 */
import type { ConsolaInstance } from 'consola'
import { closeOnReturn } from '../close-on-return.ts'
import { isXipuError, XipuError } from '../errors.ts'
import type { ChatRequest } from '../neutral.ts'
import { screenAnswer } from './answer.ts'
import type { ImageResolver } from '../images/resolve.ts'
import type { SessionManager } from '../sessions/manager.ts'
import type { XipuEvent } from '../xipu/events.ts'
import type { XipuClient } from '../xipu/client.ts'

export interface OpenedChat {
  sessionId: number
  /** The platform's events. Closing it early aborts the upstream call; either way the session is released. */
  events: AsyncGenerator<XipuEvent>
}

export interface ChatDeps {
  client: XipuClient
  sessions: SessionManager
  log: ConsolaInstance
  /** Logs in again after a 403; resolves true when new tokens are in place. */
  reauth?: () => Promise<boolean>
  /** Aborted when shutdown's grace is over: running answers end with `E_SHUTTING_DOWN`. */
  shutdown?: AbortSignal
  /** Checks and uploads a request's images (lib/images/resolve.ts); without it, a request with images is refused. */
  images?: ImageResolver
}

/**
 * @example
 * const chat = createChatPipeline({ client, sessions, log })
 * const { events } = await chat.open(request, signal)
 * for await (const event of events) relay(event)
 */
export function createChatPipeline(deps: ChatDeps) {
  /** `events`, releasing the session when they end, fail or are closed, even before the first read. */
  function _releasing(events: AsyncGenerator<XipuEvent>, sessionId: number, clientSignal?: AbortSignal): AsyncGenerator<XipuEvent> {
    let released = false
    // Only a session whose answer ran its course goes back to the pool: after an error
    // or a cut stream, the platform may still be busy with it.
    let completed = false
    const release = async () => {
      if (released) return
      released = true
      // Ends the platform call first (a no-op once the events ran their course).
      await events.return(undefined).catch(() => {})
      void deps.sessions.release(sessionId, { reusable: completed })
    }
    async function* relay(): AsyncGenerator<XipuEvent> {
      try {
        yield* events
        completed = true
      } catch (error) {
        // The platform call was cut by shutdown, not by the client: every surface ends its stream with this error.
        if (deps.shutdown?.aborted && !clientSignal?.aborted) {
          throw new XipuError('E_SHUTTING_DOWN', 'The adapter shut down before this answer was complete: retry in a moment.', { retryAfter: 5, cause: error })
        }
        throw error
      } finally {
        await release()
      }
    }
    return closeOnReturn(relay(), release)
  }

  async function _files(request: ChatRequest, signal?: AbortSignal): Promise<string[]> {
    if (!request.images?.length) return []
    if (!deps.images) throw new XipuError('E_BAD_REQUEST', 'Images are not taken by this pipeline.', { param: request.images[0]!.param })
    return deps.images.resolve(request, signal)
  }

  return {
    /**
     * Creates the session and starts the completion; resolves once the
     * platform has begun to answer, so that every failure before the first
     * byte can still be answered with a proper HTTP status.
     */
    async open(request: ChatRequest, signal?: AbortSignal): Promise<OpenedChat> {
      let healed = false
      let freshRetry = false
      for (;;) {
        let session: { id: number; reused: boolean } | undefined
        try {
          // Images first: a refused image or a failed upload ends the request before any session exists.
          const files = await _files(request, signal)
          session = await deps.sessions.acquire(request, signal)
          // The call ends when the client leaves, or when shutdown's grace is over. The pacer still
          // knows it by the client's signal: a follow-up of the saveSession above, served first, never refused.
          const callSignal = deps.shutdown ? (signal ? AbortSignal.any([signal, deps.shutdown]) : deps.shutdown) : signal
          const events = await deps.client.openCompletion(
            { sessionId: session.id, text: request.prompt, files, online: request.online, thinking: request.thinking },
            { signal: callSignal, owner: signal },
          )
          // Screened for the answers that are not answers (Request Err!, the word filter), for every surface.
          const screened = closeOnReturn(screenAnswer(events, deps.log), async () => void (await events.return(undefined)))
          return { sessionId: session.id, events: _releasing(screened, session.id, signal) }
        } catch (error) {
          if (session !== undefined) void deps.sessions.release(session.id)
          // A ready session can vanish (deleted in the web app): retry once with a fresh one.
          if (session?.reused && !freshRetry && isXipuError(error, 'E_UPSTREAM')) {
            freshRetry = true
            continue
          }
          if (!healed && isXipuError(error, 'E_TOKEN_EXPIRED') && deps.reauth) {
            healed = true
            deps.log.debug('The platform rejected the token (403): asking reauth to heal it, then retrying once.')
            if (await deps.reauth()) continue
          }
          throw error
        }
      }
    },
  }
}

export type ChatPipeline = ReturnType<typeof createChatPipeline>
