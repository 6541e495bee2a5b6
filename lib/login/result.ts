/**
 * What a login's result becomes: the credentials written into `.env` (one
 * atomic write, every other line kept), and a masked summary to print. Light
 * on purpose: callers load the browser login itself (puppeteer-core) lazily.
 */
import { updateEnvFile } from '../env-file.ts'
import { describeToken } from '../jwt.ts'
import { maskSecret } from '../redact.ts'
import type { LoginResult } from './capture.ts'

/**
 * Writes a login's credentials into `.env` in one atomic write, keeping every
 * other line. The session header and cookie belong to the login that issued
 * the token, so ones not seen this time are removed rather than left stale;
 * the API base is only written when one was seen.
 *
 * @example
 * saveLoginResult(settings.envFile, await loginWithSettings(settings))
 */
export function saveLoginResult(envFile: string, result: LoginResult): void {
  updateEnvFile(envFile, {
    JM_TOKEN: result.jmToken,
    SDP_SESSION: result.sdpSession,
    XIPU_COOKIE: result.cookie,
    ...(result.apiBase ? { XIPU_API_BASE: result.apiBase } : {}),
  })
}

/**
 * A masked, printable summary of a login result, one line per item.
 *
 * @example
 * for (const line of summarizeLoginResult(result)) log.info(line)
 */
export function summarizeLoginResult(result: LoginResult): string[] {
  return [
    `JM_TOKEN     ${maskSecret(result.jmToken)}${result.source === 'localStorage' ? ' (from localStorage: no API request was seen)' : ''}`,
    `SDP_SESSION  ${result.sdpSession ? maskSecret(result.sdpSession) : '(not seen)'}`,
    `XIPU_COOKIE  ${result.cookie ? maskSecret(result.cookie) : '(none)'}`,
    `XIPU_API_BASE ${result.apiBase ?? '(not seen; unchanged)'}`,
    `Token ${describeToken(result.jmToken)}`,
    ...(result.newChat?.deleted.length ? [`New chat     the session the login's click created (${result.newChat.deleted.join(', ')}) was deleted`] : []),
    ...(result.newChat?.left.length
      ? [`New chat     the session the login's click created (${result.newChat.left.join(', ')}) could not be deleted (${result.newChat.error}): delete it in the web app`]
      : []),
  ]
}
