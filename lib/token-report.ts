/**
 * What expire.ts prints about `JM_TOKEN`: its times, the time left, a
 * verdict, and the payload's other claims with anything identifying masked.
 * The token is decoded, not verified (we have no key).
 */
import { XipuError } from './errors.ts'
import { decodeJwt, formatDuration, getTokenLifetime } from './jwt.ts'
import { maskSecret } from './redact.ts'

// Claims that describe the token rather than the person; every other value
// (account, email, name, student number, ids) is masked.
const PLAIN_CLAIMS = new Set(['iat', 'exp', 'nbf', 'iss', 'aud', 'typ', 'type', 'scope', 'lang'])

export interface TokenReport {
  valid: boolean
  expired: boolean
  /** The token, masked. */
  token: string
  issuedAt: string | null
  expiresAt: string | null
  /** Milliseconds left (negative once expired); `null` when the token has no `exp`. */
  msLeft: number | null
  /** `3h 07m`, `expired 12m 05s ago`, or `no expiry`. */
  timeLeft: string
  /** Claims other than `iat` and `exp`, flattened (`extend.email`) and masked. */
  claims: Record<string, string | number | boolean | null>
}

/**
 * Inspects a token. Throws `E_NO_TOKEN` (none, saying `advice`) or
 * `E_BAD_TOKEN` (not a JWT).
 *
 * @example
 * inspectToken(settings.jmToken).timeLeft // '3h 07m'
 */
export function inspectToken(token: string | undefined, now = Date.now(), advice = 'run npx tsx auth.ts'): TokenReport {
  if (!token) throw new XipuError('E_NO_TOKEN', `No JM_TOKEN is saved: ${advice} to log in.`)
  const { payload } = decodeJwt(token)
  const life = getTokenLifetime(token, now)
  const claims: TokenReport['claims'] = {}
  for (const [key, value] of Object.entries(payload)) {
    if (key !== 'iat' && key !== 'exp') _flattenClaim(claims, key, value, PLAIN_CLAIMS.has(key))
  }
  const msLeft = life.expiresAt ? life.msLeft : null
  return {
    valid: !life.expired,
    expired: life.expired,
    token: maskSecret(token),
    issuedAt: life.issuedAt?.toISOString() ?? null,
    expiresAt: life.expiresAt?.toISOString() ?? null,
    msLeft,
    timeLeft: msLeft === null ? 'no expiry' : life.expired ? `expired ${formatDuration(-msLeft)} ago` : formatDuration(msLeft),
    claims,
  }
}

/**
 * The report as lines for people, times in local time.
 *
 * @example
 * for (const line of formatTokenReport(report)) console.log(line)
 */
export function formatTokenReport(report: TokenReport): string[] {
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone
  const local = (iso: string | null) => (iso ? `${new Date(iso).toLocaleString()} (${zone})` : '(not in the token)')
  const claims = Object.entries(report.claims).map(([key, value]) => `${key}=${String(value)}`)
  return [
    `Token       ${report.token}`,
    `Issued at   ${local(report.issuedAt)}`,
    `Expires at  ${local(report.expiresAt)}`,
    `Time left   ${report.expired ? `none (${report.timeLeft})` : report.timeLeft}`,
    `Claims      ${claims.length > 0 ? claims.join(', ') : '(none)'}`,
    report.valid ? 'Verdict     VALID' : 'Verdict     EXPIRED: run npx tsx auth.ts to log in again',
  ]
}

function _flattenClaim(out: TokenReport['claims'], key: string, value: unknown, plain: boolean): void {
  if (value && typeof value === 'object') {
    for (const [inner, innerValue] of Object.entries(value)) _flattenClaim(out, `${key}.${inner}`, innerValue, plain)
    return
  }
  if (value === null || typeof value === 'boolean') out[key] = value
  else if (plain && (typeof value === 'string' || typeof value === 'number')) out[key] = value
  else out[key] = _maskIdentifying(String(value))
}

/** `demo@student.xjtlu.edu.cn` → `d***n (25 chars)`: enough to tell two apart, not to read. */
function _maskIdentifying(value: string): string {
  return value.length < 6 ? `*** (${value.length} chars)` : `${value[0]}***${value.at(-1)} (${value.length} chars)`
}
