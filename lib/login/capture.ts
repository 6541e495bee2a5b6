/**
 * Reads the credentials off the chat page: the first request that carries a
 * `jm-token` header (its headers, the cookies the browser sent with it, the
 * API base it called), or, failing that, the JWT the web app keeps in
 * `localStorage`.
 */
import type { Page } from 'puppeteer-core'
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
}

// The web app's key for its login state: btoa("__XP_JM_USER__").
const LOCAL_STORAGE_KEY = Buffer.from('__XP_JM_USER__').toString('base64')

export interface CapturedRequest {
  /** The first request seen with a `jm-token` header. */
  request?: { url: string; headers: Record<string, string> }
  /** Settles when that request is seen. */
  seen: Promise<void>
}

/**
 * Starts listening for the first request that carries a `jm-token` header;
 * call it before the page loads, so that a call made on load is seen too.
 *
 * @example
 * const capture = captureApiRequest(page)
 * await capture.seen
 */
export function captureApiRequest(page: Page): CapturedRequest {
  let markSeen!: () => void
  const capture: CapturedRequest = { seen: new Promise<void>((resolve) => (markSeen = resolve)) }
  page.on('request', (request) => {
    const headers = request.headers()
    if (capture.request || !headers['jm-token']) return
    capture.request = { url: request.url(), headers }
    markSeen()
  })
  return capture
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
