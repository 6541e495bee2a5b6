/**
 * The mapping of the platform's failures to `XipuError` codes, in one place:
 * HTTP statuses, failure codes in the JSON envelope, and failures of the call
 * itself (the client went away, a timeout, the network); and which of them
 * are worth another attempt.
 */
import { isXipuError, XipuError } from '../errors.ts'

/** A reply with an HTTP error status: a bad token, the rate limit, or another failure of the platform. */
export function statusError(label: string, status: number, data: unknown): XipuError {
  const msg = data && typeof data === 'object' && typeof (data as { msg?: unknown }).msg === 'string' ? (data as { msg: string }).msg : ''
  if (status === 403 || status === 401) {
    return new XipuError('E_TOKEN_EXPIRED', 'The platform rejected the token (HTTP 403): it has expired or was revoked. Run npx tsx auth.ts to log in again.', { upstreamStatus: status })
  }
  if (status === 429) {
    return new XipuError('E_RATE_LIMITED', `The platform said "${msg || 'Request too fast'}" (HTTP 429) on ${label}.`, { upstreamStatus: 429, retryAfter: 2 })
  }
  return new XipuError('E_UPSTREAM', `The platform answered HTTP ${status} on ${label}${msg ? `: ${msg}` : ''}.`, { upstreamStatus: status })
}

/** A reply with a failure `code` in its envelope: the session cap, or another refusal. */
export function codeError(label: string, data: { code?: unknown; msg?: unknown }): XipuError {
  const msg = typeof data.msg === 'string' ? data.msg : `code ${String(data.code)}`
  if (/\d+\s+sessions/i.test(msg) && /delete/i.test(msg)) {
    return new XipuError('E_SESSION_CAP', `The platform holds its limit of 50 sessions for this account ("${msg}").`)
  }
  return new XipuError('E_UPSTREAM', `The platform refused ${label}: ${msg}`)
}

/** Worth another paced attempt: the rate limit, an unreachable platform, a 5xx. */
export function isRetryable(error: unknown): boolean {
  if (!isXipuError(error)) return false
  if (error.code === 'E_RATE_LIMITED' || error.code === 'E_UNREACHABLE') return true
  return error.code === 'E_UPSTREAM' && (error.upstreamStatus ?? 0) >= 500
}

/** Any failure of a call as a `XipuError`: the client went away, no answer in time, or the network. */
export function normalizeFailure(label: string, error: unknown, signal: AbortSignal | undefined, timeout: AbortSignal): XipuError {
  if (isXipuError(error)) return error
  if (signal?.aborted) return new XipuError('E_ABORTED', `${label}: the client went away`, { cause: error })
  if (timeout.aborted) return new XipuError('E_UNREACHABLE', `The platform did not answer ${label} in time (XIPU_CALL_TIMEOUT_MS).`, { cause: error })
  const reason = error instanceof Error ? ((error.cause as Error | undefined)?.message ?? error.message) : String(error)
  return new XipuError('E_UNREACHABLE', `The platform could not be reached for ${label} (${reason}). Check the network or XIPU_API_BASE.`, { cause: error })
}
