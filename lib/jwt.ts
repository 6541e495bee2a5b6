/**
 * Decodes the platform's JWT (`jm-token`) without verifying it (we have no
 * key), and does the expiry arithmetic every script needs.
 */
import { XipuError } from './errors.ts'

export interface JwtPayload {
  iat?: number
  exp?: number
  [key: string]: unknown
}

export interface DecodedJwt {
  header: Record<string, unknown>
  payload: JwtPayload
}

export interface TokenLifetime {
  /** When it was issued, if the payload says. */
  issuedAt?: Date
  /** When it expires; `undefined` when the payload has no `exp`. */
  expiresAt?: Date
  /** Milliseconds left (negative once expired; Infinity without `exp`). */
  msLeft: number
  expired: boolean
}

function _decodePart(part: string, what: string): Record<string, unknown> {
  try {
    const value = JSON.parse(Buffer.from(part, 'base64url').toString('utf8')) as unknown
    if (value && typeof value === 'object' && !Array.isArray(value)) return value as Record<string, unknown>
  } catch {
    // Fall through to the error below.
  }
  throw new XipuError('E_BAD_TOKEN', `JM_TOKEN is not a JWT: its ${what} is not base64url JSON. Run npx tsx auth.ts`)
}

/**
 * Decodes a JWT's header and payload. Throws `E_BAD_TOKEN` for anything that
 * is not three base64url parts with JSON objects in the first two.
 *
 * @example
 * decodeJwt(token).payload.exp // 1764072000
 */
export function decodeJwt(token: string): DecodedJwt {
  const parts = token.trim().split('.')
  if (parts.length !== 3 || !parts[0] || !parts[1]) {
    throw new XipuError('E_BAD_TOKEN', 'JM_TOKEN is not a JWT (header.payload.signature). Run npx tsx auth.ts')
  }
  return { header: _decodePart(parts[0], 'header'), payload: _decodePart(parts[1], 'payload') as JwtPayload }
}

/**
 * How long a token has left.
 *
 * @example
 * const { expired, msLeft } = getTokenLifetime(token)
 */
export function getTokenLifetime(token: string, now = Date.now()): TokenLifetime {
  const { payload } = decodeJwt(token)
  const issuedAt = typeof payload.iat === 'number' ? new Date(payload.iat * 1000) : undefined
  if (typeof payload.exp !== 'number') return { issuedAt, msLeft: Number.POSITIVE_INFINITY, expired: false }
  const expiresAt = new Date(payload.exp * 1000)
  const msLeft = expiresAt.getTime() - now
  return { issuedAt, expiresAt, msLeft, expired: msLeft <= 0 }
}

/**
 * Formats a duration for people: `3h 07m`, `12m 05s`, `41s`.
 *
 * @example
 * formatDuration(11_220_000) // '3h 07m'
 */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) return 'no expiry'
  const sign = ms < 0 ? '-' : ''
  const total = Math.floor(Math.abs(ms) / 1000)
  const h = Math.floor(total / 3600)
  const m = Math.floor((total % 3600) / 60)
  const s = total % 60
  if (h > 0) return `${sign}${h}h ${String(m).padStart(2, '0')}m`
  if (m > 0) return `${sign}${m}m ${String(s).padStart(2, '0')}s`
  return `${sign}${s}s`
}

/** A one-line summary of a token's lifetime, for startup banners and /health (what to run is the caller's: lib/advice.ts). */
export function describeToken(token: string | undefined, now = Date.now()): string {
  if (!token) return 'no token'
  try {
    const life = getTokenLifetime(token, now)
    if (!life.expiresAt) return 'valid, no expiry in the token'
    const at = life.expiresAt.toLocaleString()
    return life.expired
      ? `expired ${formatDuration(-life.msLeft)} ago (at ${at})`
      : `valid for ${formatDuration(life.msLeft)} (until ${at})`
  } catch {
    return 'not a JWT'
  }
}

/** Whether a token needs a login before it can be used: missing, not a JWT, or past its `exp`. */
export function isTokenUnusable(token: string | undefined, now = Date.now()): boolean {
  if (!token) return true
  try {
    return getTokenLifetime(token, now).expired
  } catch {
    return true
  }
}
