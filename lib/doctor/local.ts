/**
 * The doctor's checks that need no network: the `.env` file and its mode,
 * the saved XJTLU credentials, the token's expiry.
 */
import { statSync } from 'node:fs'
import { formatDuration, getTokenLifetime } from '../jwt.ts'
import type { Settings } from '../settings.ts'
import { checkLine, type CheckLine } from './report.ts'

// Less than this left on the token is worth a warning: a long request could outlive it.
const TOKEN_LOW_MS = 15 * 60_000

/**
 * `.env` found, and whether only its owner can read it (it holds a password).
 *
 * @example
 * checkEnvFile(settings).status // 'ok'
 */
export function checkEnvFile(settings: Settings): CheckLine {
  let mode: number
  try {
    mode = statSync(settings.envFile).mode & 0o777
  } catch {
    const fromEnv = settings.jmToken ? ' (the settings come from the environment)' : ''
    return checkLine('env', '.env', settings.jmToken ? 'warn' : 'fail', `${settings.envFile} not found${fromEnv}`, {
      advice: 'Run npx tsx adapter.ts on a terminal (it asks and logs in), or npx tsx config.ts, then npx tsx auth.ts.',
      details: { found: false },
    })
  }
  const octal = mode.toString(8).padStart(3, '0')
  const details = { found: true, mode: octal }
  // Windows has no POSIX modes: node reports 666 there whatever the ACL says.
  if (process.platform !== 'win32' && (mode & 0o077) !== 0) {
    return checkLine('env', '.env', 'warn', `${settings.envFile}, mode ${octal}: others on this machine can read it`, {
      advice: `It holds your password and tokens: chmod 600 ${settings.envFile}`,
      details,
    })
  }
  return checkLine('env', '.env', 'ok', `${settings.envFile}, mode ${octal}`, { details })
}

/** Whether XJTLU_USERNAME and XJTLU_PASSWORD are saved (needed for logins without a person). */
export function checkCredentials(settings: Settings): CheckLine {
  const has = { username: Boolean(settings.username), password: Boolean(settings.password) }
  if (has.username && has.password) {
    return checkLine('credentials', 'credentials', 'ok', 'XJTLU_USERNAME and XJTLU_PASSWORD saved: the adapter can log in again by itself', { details: has })
  }
  const missing = [!has.username && 'XJTLU_USERNAME', !has.password && 'XJTLU_PASSWORD'].filter(Boolean).join(' and ')
  // The adapter works with a token alone, until it expires.
  return checkLine('credentials', 'credentials', 'warn', `${missing} not saved: every expired token needs npx tsx auth.ts by hand`, {
    advice: 'Run npx tsx config.ts to save them (the password stays in .env, mode 600).',
    details: has,
  })
}

/** The token's expiry, read from the JWT itself (not verified: the platform does that). */
export function checkToken(settings: Settings, now = Date.now()): CheckLine {
  if (!settings.jmToken) {
    return checkLine('token', 'token', 'fail', 'no JM_TOKEN saved', { advice: 'Run npx tsx auth.ts to log in.', details: { present: false } })
  }
  let life: ReturnType<typeof getTokenLifetime>
  try {
    life = getTokenLifetime(settings.jmToken, now)
  } catch {
    return checkLine('token', 'token', 'fail', 'JM_TOKEN is not a JWT', { advice: 'Run npx tsx auth.ts to log in again.', details: { present: true, jwt: false } })
  }
  const details = {
    present: true,
    jwt: true,
    expiresAt: life.expiresAt?.toISOString() ?? null,
    secondsLeft: Number.isFinite(life.msLeft) ? Math.round(life.msLeft / 1000) : null,
    sdpSession: Boolean(settings.sdpSession),
    cookie: Boolean(settings.cookie),
  }
  const headers = settings.sdpSession ? 'with SDP_SESSION' : 'without SDP_SESSION'
  if (!life.expiresAt) return checkLine('token', 'token', 'ok', `a JWT with no expiry, ${headers}`, { details })
  const at = life.expiresAt.toLocaleString()
  if (life.expired) {
    return checkLine('token', 'token', 'fail', `expired ${formatDuration(-life.msLeft)} ago (${at})`, { advice: 'Run npx tsx auth.ts to log in again.', details })
  }
  if (life.msLeft < TOKEN_LOW_MS) {
    return checkLine('token', 'token', 'warn', `expires in ${formatDuration(life.msLeft)} (${at}), ${headers}`, {
      advice: 'Log in again soon (npx tsx auth.ts), or run the keepalive (npx tsx keepalive.ts, or adapter.ts --keepalive).',
      details,
    })
  }
  return checkLine('token', 'token', 'ok', `expires in ${formatDuration(life.msLeft)} (${at}), ${headers}`, { details })
}
