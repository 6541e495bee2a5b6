/**
 * Reads the credentials off the chat page: the first request that carries a
 * `jm-token` header (its headers, the cookies the browser sent with it, the
 * API base it called), or, failing that, the JWT the web app keeps in
 * `localStorage`.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import type { HTTPRequest, Page } from 'puppeteer-core'
import { isSuccessCode } from '../xipu/events.ts'
import { getTokenLifetime } from '../jwt.ts'

export interface LoginResult {
  /** `jm-token`, the platform's JWT. */
  jmToken: string
  /** `sdp-app-session`, when a request to the API was seen. */
  sdpSession?: string
  /** The cookies sent with that request (`name=value; …`). */
  cookie?: string
  /** The API base the page called, up to and including `/api/chat`. */
  apiBase?: string
  /** From the token's `exp`, when it has one. */
  expiresAt?: Date
  /** Where the JWT was read: an API request's headers, or `localStorage` (the fallback). */
  source: 'request' | 'localStorage'
  /** Sessions the login's click on "New chat" created (see lib/login/new-chat.ts). */
  createdSessionIds?: number[]
  /** When the chat page last called the API (`performance.now()` time). */
  lastApiCallAt?: number
  /** What became of `createdSessionIds`: deleted, or left (with why). */
  newChat?: { deleted: number[]; left: number[]; error?: string }
}

// The web app's key for its login state: btoa("__XP_JM_USER__").
const LOCAL_STORAGE_KEY = Buffer.from('__XP_JM_USER__').toString('base64')

export interface CapturedRequest {
  /** The first request seen with a `jm-token` header. */
  request?: { url: string; headers: Record<string, string> }
  /** Settles when that request is seen. */
  seen: Promise<void>
  /**
   * Sessions the page created during the login (the `data.id` of each
   * `saveSession` reply to a create, that is, without an `id` in the body):
   * the login's own "New chat", to be deleted, and nothing else.
   */
  createdSessionIds: number[]
  /** When the page last called the API (a request or its reply, `performance.now()` time), or -Infinity. */
  lastCallAt(): number
  /**
   * Waits, at most `timeoutMs`, until the page has made no API call for
   * `quietMs` and every reply has been read (so that a "New chat" created
   * by a click is known before the browser closes).
   */
  settle(options: { quietMs: number; timeoutMs: number }): Promise<void>
}

/**
 * Starts watching the page's calls to the API (requests that carry a
 * `jm-token` header): the first one gives the credentials, `saveSession`
 * replies tell the sessions the login created. Call it before the page
 * loads, so that a call made on load is seen too.
 *
 * @example
 * const capture = captureApiRequest(page)
 * await capture.seen
 */
export function captureApiRequest(page: Page): CapturedRequest {
  let markSeen!: () => void
  let lastCallAt = Number.NEGATIVE_INFINITY
  const pending = new Set<HTTPRequest>()
  const reads: Array<Promise<void>> = []
  const isApiCall = (request: HTTPRequest) => Boolean(request.headers()['jm-token'])
  const capture: CapturedRequest = {
    seen: new Promise<void>((resolve) => (markSeen = resolve)),
    createdSessionIds: [],
    lastCallAt: () => lastCallAt,
    async settle({ quietMs, timeoutMs }) {
      const deadline = performance.now() + timeoutMs
      while (performance.now() < deadline && (pending.size > 0 || performance.now() - lastCallAt < quietMs)) await sleep(50)
      // The timer is cancelled, so that a process that is done does not stay up until the deadline.
      const giveUp = new AbortController()
      const late = sleep(Math.max(0, deadline - performance.now()), undefined, { signal: giveUp.signal }).catch(() => undefined)
      await Promise.race([Promise.allSettled(reads), late]).finally(() => giveUp.abort())
    },
  }
  const finished = (request: HTTPRequest) => {
    if (!pending.delete(request)) return
    lastCallAt = performance.now()
  }
  page.on('request', (request) => {
    if (!isApiCall(request)) return
    pending.add(request)
    lastCallAt = performance.now()
    if (capture.request) return
    capture.request = { url: request.url(), headers: request.headers() }
    markSeen()
  })
  page.on('requestfailed', finished)
  page.on('requestfinished', finished)
  page.on('response', (response) => {
    const request = response.request()
    if (!isApiCall(request) || !_createsSession(request)) return
    reads.push(
      response.json().then(
        (reply: { code?: unknown; data?: { id?: unknown } } | null) => {
          const id = Number(reply?.data?.id)
          if (isSuccessCode(reply?.code) && Number.isSafeInteger(id)) capture.createdSessionIds.push(id)
        },
        () => {},
      ),
    )
  })
  return capture
}

/** A `saveSession` that creates (an update names the session's `id`). */
function _createsSession(request: HTTPRequest): boolean {
  if (request.method() !== 'POST' || !/\/saveSession$/.test(new URL(request.url()).pathname)) return false
  try {
    const body = JSON.parse(request.postData() ?? '{}') as { id?: unknown }
    return body.id === undefined || body.id === null || body.id === ''
  } catch {
    return true
  }
}

/** The login result from the captured request's headers and the cookies sent with it. */
export async function readLoginFromRequest(page: Page, request: { url: string; headers: Record<string, string> }): Promise<LoginResult> {
  const jmToken = request.headers['jm-token']!
  return {
    jmToken,
    sdpSession: request.headers['sdp-app-session'] || undefined,
    cookie: await _readCookies(page, request.url),
    apiBase: deriveApiBase(request.url),
    expiresAt: _expiryOf(jmToken),
    source: 'request',
  }
}

/** The fallback: the JWT the web app keeps in localStorage, and the page's cookies. */
export async function readLoginFromLocalStorage(page: Page): Promise<LoginResult | undefined> {
  const stored = await page.evaluate((key) => localStorage.getItem(key), LOCAL_STORAGE_KEY).catch(() => null)
  let jmToken: unknown
  try {
    jmToken = stored ? (JSON.parse(stored) as { token?: unknown }).token : undefined
  } catch {
    return undefined
  }
  if (typeof jmToken !== 'string' || jmToken === '') return undefined
  return { jmToken, cookie: await _readCookies(page, page.url()), expiresAt: _expiryOf(jmToken), source: 'localStorage' }
}

// CDP gives exactly the cookies the browser sends to `url`, HttpOnly ones included.
async function _readCookies(page: Page, url: string): Promise<string | undefined> {
  const cdp = await page.createCDPSession()
  try {
    const { cookies } = await cdp.send('Network.getCookies', { urls: [url] })
    return cookies.length > 0 ? cookies.map((c) => `${c.name}=${c.value}`).join('; ') : undefined
  } finally {
    await cdp.detach().catch(() => {})
  }
}

/**
 * The API base of a request URL: everything up to and including `/api/chat`.
 *
 * @example
 * deriveApiBase('https://host/jmapi/api/chat/session?lang=en') // 'https://host/jmapi/api/chat'
 */
export function deriveApiBase(url: string): string | undefined {
  const parsed = new URL(url)
  const match = /^(.*?\/api\/chat)(?:\/|$)/.exec(parsed.pathname)
  return match ? `${parsed.origin}${match[1]}` : undefined
}

function _expiryOf(jmToken: string): Date | undefined {
  try {
    return getTokenLifetime(jmToken).expiresAt
  } catch {
    return undefined
  }
}
