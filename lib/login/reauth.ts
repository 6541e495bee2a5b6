/**
 * Logging in again without a person: the browser login with the saved XJTLU
 * credentials, its tokens written to `.env` (every settings store re-reads
 * the file when it changes, so the adapter uses them with its next call).
 *
 * One login at a time: requests that hit a 403 together share one login, and
 * requests that arrive while it runs wait for it. A lock file beside `.env`
 * extends that to other processes (an adapter and a keepalive), and whoever
 * waited for another process's login uses the token it saved.
 */
import { untilAborted } from '../abort.ts'
import type { ConsolaInstance } from 'consola'
import { isXipuError, XipuError } from '../errors.ts'
import { describeToken, formatDuration, isTokenUnusable } from '../jwt.ts'
import { acquireLock } from '../lock.ts'
import type { Pacer } from '../xipu/pacer.ts'
import { saveLoginResult } from './result.ts'
import type { Settings } from '../settings.ts'

// Long enough for another process's browser login to finish (four steps of up
// to XIPU_LOGIN_STEP_TIMEOUT_MS each, plus the browser's start).
const LOGIN_LOCK_WAIT_MS = 3 * 60_000
// A 403 on a call made just before our login finished needs no second login.
const RECENT_LOGIN_MS = 30_000
// After a failed login, requests fail at once with its error for this long
// instead of each starting a browser (and a wrong password being tried again and again).
const FAILURE_COOLDOWN_MS = 60_000

export interface ReauthOptions {
  settings: () => Settings
  log: ConsolaInstance
  /**
   * The pacer of this process's platform calls: the chat page calls the
   * platform during a login, so a login takes a turn in it, and the next call
   * keeps its distance (the rate limit counts the browser's call too).
   */
  pacer?: Pacer
  /**
   * Called after each login of this process succeeded; `healing` when the old
   * token was known bad (a 403, an expiry), so calls made with it failed (the
   * adapter then retries the deletes that failed).
   */
  onLogin?: (info: { healing: boolean }) => void
  /** After a failed login, requests get its error at once for this long, in ms (default 60000). */
  failureCooldownMs?: number
}

/** The `.env` lock that keeps two processes from logging in at once. */
export function loginLockFile(envFile: string): string {
  return `${envFile}.login.lock`
}

/**
 * @example
 * const reauth = createReauth({ settings: () => store.get(), log })
 * const chat = createChatPipeline({ client, sessions, log, reauth: reauth.heal })
 */
export function createReauth(options: ReauthOptions) {
  const { log } = options
  const cooldownMs = options.failureCooldownMs ?? FAILURE_COOLDOWN_MS
  let running: Promise<void> | undefined
  // Whether requests should wait for the running login (the token is known bad),
  // rather than go on with the old token, which is still good during a renewal.
  let blocking = false
  let lastSuccessAt = Number.NEGATIVE_INFINITY
  let lastFailure: { at: number; error: XipuError; credentials: string } | undefined
  let logins = 0

  const hasCredentials = () => {
    const s = options.settings()
    return Boolean(s.username && s.password)
  }
  const credentialsOf = (s: Settings) => `${s.username}\n${s.password}`

  /**
   * Logs in now, or joins the login already running. Rejects with the login's
   * error (`E_NO_CREDENTIALS`, `E_WRONG_PASSWORD`, `E_LOGIN_FAILED`, …).
   * `force` logs in even when another process saved a new token meanwhile.
   */
  function login(reason: string, flags: { force?: boolean; blocking?: boolean } = {}): Promise<void> {
    if (flags.blocking) blocking = true
    if (running) return running
    running = _login(reason, flags.force ?? false).finally(() => {
      running = undefined
      blocking = false
    })
    return running
  }

  async function _login(reason: string, force: boolean): Promise<void> {
    const before = options.settings()
    if (!before.username || !before.password) {
      throw new XipuError('E_NO_CREDENTIALS', `No XJTLU_USERNAME and XJTLU_PASSWORD in ${before.envFile}, so the adapter cannot log in by itself: run npx tsx config.ts, then npx tsx auth.ts.`)
    }
    try {
      const lock = await acquireLock(loginLockFile(before.envFile), { purpose: 'login', waitMs: LOGIN_LOCK_WAIT_MS })
      try {
        const current = options.settings()
        if (!force && current.jmToken !== before.jmToken && !isTokenUnusable(current.jmToken)) {
          log.info(`Another process logged in meanwhile; using its token (${describeToken(current.jmToken)}).`)
          lastSuccessAt = Date.now()
          return
        }
        log.info(`Logging in again as ${current.username} (${reason}).`)
        // Loaded on first use: the adapter and keepalive log in rarely, and the browser
        // login (puppeteer-core, chrome-launcher) costs ~30 MiB resident once loaded.
        const { loginWithSettings } = await import('./browser.ts')
        const result = await loginWithSettings(current, {
          headless: true,
          pacer: options.pacer,
          onProgress: ({ step, total, message }) => log.info(`login step ${step}/${total}: ${message}`),
        })
        saveLoginResult(current.envFile, result)
        if (result.newChat?.left.length) {
          log.warn(`The login's click on "New chat" created session ${result.newChat.left.join(', ')}, which could not be deleted (${result.newChat.error}): delete it in the web app.`)
        }
        await options.pacer?.waitTurn({ label: 'login (the chat page called the platform)' }).catch(() => {})
        if (options.settings().jmToken !== result.jmToken) {
          throw new XipuError('E_CONFIG', `Logged in and saved the new token to ${current.envFile}, but JM_TOKEN is also set in the environment, which wins over .env: unset it so that renewed tokens take effect.`)
        }
        logins++
        lastSuccessAt = Date.now()
        lastFailure = undefined
        log.success(`Logged in; the new token is ${describeToken(result.jmToken)}, saved to ${current.envFile}.`)
        options.onLogin?.({ healing: blocking })
      } finally {
        lock.release()
      }
    } catch (error) {
      const failure = isXipuError(error) ? error : new XipuError('E_LOGIN_FAILED', `The login failed: ${(error as Error).message}`, { cause: error })
      lastFailure = { at: Date.now(), error: failure, credentials: credentialsOf(before) }
      throw failure
    }
  }

  /** Logs in for a request whose token is bad; turns a failure into an error for its client. */
  async function _healFor(reason: string): Promise<void> {
    const cooled = lastFailure && Date.now() - lastFailure.at < cooldownMs && lastFailure.credentials === credentialsOf(options.settings())
    try {
      if (!running && cooled) throw lastFailure!.error
      await login(reason, { blocking: true })
    } catch (error) {
      const failure = error as XipuError
      const code = failure.code === 'E_WRONG_PASSWORD' || failure.code === 'E_CONFIG' ? failure.code : 'E_LOGIN_FAILED'
      const retry = cooled ? ` (the last login, ${formatDuration(Date.now() - lastFailure!.at)} ago, failed; the next try is after ${formatDuration(cooldownMs)})` : ''
      throw new XipuError(code, `The platform token is no longer valid and logging in again failed${retry}: ${failure.message}`, { cause: failure })
    }
  }

  return {
    login,
    hasCredentials,
    /** Whether a login is running now. */
    isLoggingIn: () => running !== undefined,
    /** How many logins this process completed. */
    loginCount: () => logins,

    /**
     * For the chat pipeline after a platform 403: resolves true once new
     * tokens are in `.env` (the caller retries once), false without saved
     * credentials (the caller answers 401: run auth.ts). A failed login
     * rejects with what went wrong.
     */
    async heal(): Promise<boolean> {
      if (!hasCredentials()) return false
      if (!running && Date.now() - lastSuccessAt < RECENT_LOGIN_MS) return true
      await _healFor('the platform rejected the token (HTTP 403)')
      return true
    },

    /**
     * Call before a request uses the token: waits while a login for a bad
     * token runs, and starts one when the token is already past its expiry
     * (its call would only earn a 403). A renewal is waited for only once the
     * token it replaces has expired (a login slower than the renewal margin);
     * never while that token is still good.
     */
    async whenReady(signal?: AbortSignal): Promise<void> {
      const expired = isTokenUnusable(options.settings().jmToken)
      if (!running && expired && hasCredentials()) {
        await _healFor('JM_TOKEN has expired')
        return
      }
      if (!running || (!blocking && !expired)) return
      const login = running.catch(() => {})
      await untilAborted(login, signal, 'the client went away while the adapter logged in')
    },

    /**
     * At startup: logs in before serving when the token is missing or
     * expired and credentials are saved. Never throws: a failure is logged,
     * and requests report it.
     */
    async ensureToken(): Promise<'valid' | 'renewed' | 'no-credentials' | 'failed'> {
      const settings = options.settings()
      if (!isTokenUnusable(settings.jmToken)) return 'valid'
      if (!hasCredentials()) {
        log.warn(`The token cannot be used (${describeToken(settings.jmToken)}), and no XJTLU_USERNAME and XJTLU_PASSWORD are saved to log in with: requests will fail until you run npx tsx config.ts, then npx tsx auth.ts.`)
        return 'no-credentials'
      }
      try {
        await login(settings.jmToken ? 'JM_TOKEN has expired' : 'no JM_TOKEN yet', { blocking: true })
        return 'renewed'
      } catch (error) {
        log.error(`Could not log in before serving: ${(error as Error).message}`)
        return 'failed'
      }
    },
  }
}

export type Reauth = ReturnType<typeof createReauth>
