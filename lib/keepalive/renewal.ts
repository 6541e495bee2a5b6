/**
 * When to log in again: the arithmetic behind the keepalive's renewal job,
 * kept apart from the scheduling so that it can be read (and tested) alone.
 */
import { formatDuration, getTokenLifetime } from '../jwt.ts'

export type RenewalPlan =
  | { due: true; reason: string; expired: boolean }
  | { due: false; at: number; reason: string }

/**
 * Whether the token needs a login now, and if not, when it will. A login is
 * due `marginMs` before `exp`, but (unless `halfLife` is false) at the latest
 * half-way through the token's life: a platform that issues tokens shorter
 * than the margin must not be logged into again and again.
 *
 * @example
 * planRenewal(settings.jmToken, settings.reauthBeforeMs) // { due: false, at: 1764072000000, reason: 'JM_TOKEN is valid for 3h 07m' }
 */
export function planRenewal(token: string | undefined, marginMs: number, options: { now?: number; halfLife?: boolean } = {}): RenewalPlan {
  const now = options.now ?? Date.now()
  if (!token) return { due: true, reason: 'there is no JM_TOKEN yet', expired: true }
  let life: ReturnType<typeof getTokenLifetime>
  try {
    life = getTokenLifetime(token, now)
  } catch {
    return { due: true, reason: 'JM_TOKEN is not a JWT', expired: true }
  }
  if (!life.expiresAt) return { due: false, at: Number.POSITIVE_INFINITY, reason: 'JM_TOKEN has no expiry' }
  const exp = life.expiresAt.getTime()
  const lifetime = life.issuedAt && options.halfLife !== false ? exp - life.issuedAt.getTime() : Number.POSITIVE_INFINITY
  const renewAt = exp - Math.min(marginMs, lifetime / 2)
  if (life.expired) return { due: true, reason: `JM_TOKEN expired ${formatDuration(-life.msLeft)} ago`, expired: true }
  if (now >= renewAt) return { due: true, reason: `JM_TOKEN expires in ${formatDuration(life.msLeft)}`, expired: false }
  return { due: false, at: renewAt, reason: `JM_TOKEN is valid for ${formatDuration(life.msLeft)}` }
}
