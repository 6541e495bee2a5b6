/**
 * The browser login: drives the user's own Chrome through the SSO with
 * puppeteer-core, then reads the credentials off the chat page's first call
 * to the API (`jm-token`, `sdp-app-session`, the cookies sent with it and the
 * API base it calls), with `localStorage` as the fallback for the JWT.
 * auth.ts, the keepalive and the adapter all log in through this module.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import puppeteer, { type Browser, type ElementHandle, type Page } from 'puppeteer-core'
import { XipuError } from '../errors.ts'
import { findChrome } from './find-chrome.ts'
import { captureApiRequest, readLoginFromLocalStorage, readLoginFromRequest, type CapturedRequest, type LoginResult } from './capture.ts'
import { deleteLoginSessions } from './new-chat.ts'
import { saveScreenshot } from './screenshot.ts'
import { resolveLoginSelectors, type LoginSelectors } from './selectors.ts'
import { registerSecret } from '../redact.ts'
import type { Settings } from '../settings.ts'
import type { Pacer } from '../xipu/pacer.ts'

export type { LoginResult } from './capture.ts'

export interface LoginOptions {
  /** Where the login starts (`XIPU_WEB_BASE`). */
  webBase: string
  username: string
  password: string
  /** The browser executable (`CHROME_PATH`); found with `findChrome` when unset. */
  chromePath?: string
  /** Run without a window (default true; `auth.ts --show` turns it off). */
  headless?: boolean
  /** How long each step may take, in ms (default 30000). */
  stepTimeoutMs?: number
  /** Selector overrides (`XIPU_SELECTORS`); see `DEFAULT_LOGIN_SELECTORS`. */
  selectors?: Record<string, string>
  /** Folder for the screenshot of a failed login (default `./screenshots`; `<XIPU_STATE_DIR>/screenshots` via `loginWithSettings`). */
  screenshotDir?: string
  /** Called as each step starts. */
  onProgress?: (progress: LoginProgress) => void
}

export interface LoginProgress {
  step: number
  total: number
  message: string
}

const TOTAL_STEPS = 4
// The chat page's calls on load count as started once the network was idle this long…
const ON_LOAD_IDLE_MS = 1000
// …waited for at most this long before clicking "New chat" instead.
const ON_LOAD_WAIT_MAX_MS = 5000
// After the click, the page's calls count as done once it made none for this long.
const CLICK_QUIET_MS = 300
// A page load waits at least this long whatever the step timeout: a load slowed by a busy
// machine or network is not a changed page, and a refused connection fails at once anyway.
// The step timeout bounds the waits for elements and requests that may never come.
const PAGE_LOAD_MIN_MS = 30_000
// Without the background-networking flags Chromium keeps calling Google
// services, which on a closed network only produces noise and delays.
const BROWSER_ARGS = ['--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync']

/**
 * Logs in with a browser and returns the captured credentials. Every failure
 * is a `XipuError` (`E_WRONG_PASSWORD`, `E_LOGIN_FAILED`, `E_NO_CHROME`,
 * `E_UNREACHABLE`) whose message names the step and the screenshot taken.
 * The browser is always closed.
 *
 * @example
 * const result = await loginWithBrowser({ webBase, username, password, onProgress: (p) => log.info(p.message) })
 * saveLoginResult('.env', result)
 * @internal test hook: outside this module only tests use it.
 */
export async function loginWithBrowser(options: LoginOptions): Promise<LoginResult> {
  registerSecret(options.password)
  const selectors = resolveLoginSelectors(options.selectors)
  const executablePath = findChrome(options.chromePath)
  const timeout = options.stepTimeoutMs ?? 30_000
  const userDataDir = mkdtempSync(join(tmpdir(), 'xipu-login-'))
  const at = { step: 0, message: 'Starting the browser' }
  const step = (n: number, message: string) => {
    Object.assign(at, { step: n, message })
    options.onProgress?.({ step: n, total: TOTAL_STEPS, message })
  }
  let browser: Browser | undefined
  let page: Page | undefined
  try {
    browser = await _launchBrowser(executablePath, options.headless ?? true, userDataDir)
    // The tab Chrome opens with: a new one would cost a renderer process of its own for nothing.
    page = (await browser.pages())[0] ?? (await browser.newPage())
    const dialogs = await _preparePage(browser, page, timeout)
    const login: LoginPage = { page, options, selectors, timeout, seconds: `${Math.round(timeout / 100) / 10}s`, at, dialogs, capture: captureApiRequest(page) }

    step(1, `Opening ${options.webBase}`)
    const start = await _openStart(login)
    let portalLink = start.handle
    if (start.key === 'username') {
      step(2, `Signing in as ${options.username}`)
      portalLink = await _signIn(login)
    } else {
      step(2, 'Already signed in')
    }
    step(3, 'Opening the chat page')
    const chat = await _openChat(login, portalLink!)
    step(4, login.capture.request ? 'Reading the credentials the chat page sent' : 'Starting a chat and reading the credentials')
    const result = await _readCredentials(login, chat)
    for (const secret of [result.jmToken, result.sdpSession, result.cookie]) registerSecret(secret)
    return result
  } catch (error) {
    throw await _explainFailure(error, { page, at, executablePath, headless: options.headless ?? true, screenshotDir: options.screenshotDir })
  } finally {
    await browser?.close().catch(() => {})
    // Chrome on Windows may hold files a moment after exit; retry the removal.
    rmSync(userDataDir, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 })
  }
}


/** What each login step works with. */
interface LoginPage {
  page: Page
  options: LoginOptions
  selectors: LoginSelectors
  timeout: number
  /** The step timeout, for messages (`30s`). */
  seconds: string
  /** The step running now, for the error report. */
  at: { step: number; message: string }
  /** What the page's dialogs said (a gateway's alert after signing in). */
  dialogs: string[]
  capture: CapturedRequest
}

/** Loads `url` in the login's page, waiting at least `PAGE_LOAD_MIN_MS` whatever the step timeout. */
async function _load(login: LoginPage, url: string): Promise<void> {
  await login.page.goto(url, { waitUntil: 'domcontentloaded', timeout: Math.max(login.timeout, PAGE_LOAD_MIN_MS) })
}

/** Sets the page up: the step timeout, a user agent without "Headless", dialogs dismissed and recorded. */
async function _preparePage(browser: Browser, page: Page, timeout: number): Promise<string[]> {
  page.setDefaultTimeout(timeout)
  // Sites behind gateways sometimes turn away a user agent that says "Headless".
  const userAgent = await browser.userAgent()
  if (userAgent.includes('HeadlessChrome')) await page.setUserAgent({ userAgent: userAgent.replace('HeadlessChrome', 'Chrome') })
  const dialogs: string[] = []
  page.on('dialog', (dialog) => {
    dialogs.push(dialog.message())
    void dialog.dismiss().catch(() => {})
  })
  return dialogs
}

/** Step 1: the web app, which shows either the SSO form or (already signed in) the portal. */
async function _openStart(login: LoginPage) {
  const { page, selectors, timeout } = login
  await _load(login, login.options.webBase)
  const start = await _waitForAny(page, { username: selectors.username, portalLink: selectors.portalLink }, timeout)
  if (!start) _failStep(login.at, `neither the SSO form (${selectors.username}) nor the portal (${selectors.portalLink}) appeared within ${login.seconds}`)
  return start
}

/** Step 2: fills in the SSO form; resolves with the portal's link, or throws `E_WRONG_PASSWORD` with the page's message. */
async function _signIn(login: LoginPage): Promise<ElementHandle<Element> | undefined> {
  const { page, selectors, timeout, options } = login
  await _typeInto(page, selectors.username, options.username)
  await _typeInto(page, selectors.password, options.password)
  const submit = await page.waitForSelector(selectors.submit, { visible: true })
  // A click from script works where a synthetic mouse click can miss the target.
  await submit!.evaluate((el) => (el as HTMLElement).click())
  const signedIn = await _waitForAny(page, { portalLink: selectors.portalLink, loginError: selectors.loginError }, timeout)
  if (signedIn?.key === 'loginError') {
    const text = (await signedIn.handle?.evaluate((el) => el.textContent?.trim() ?? ''))?.replace(/\s+/g, ' ')
    throw new XipuError('E_WRONG_PASSWORD', `The SSO page rejected the login: "${text || 'an error message'}". Check XJTLU_USERNAME and XJTLU_PASSWORD (npx tsx config.ts).`)
  }
  const said = login.dialogs.length > 0 ? ` The page said: "${login.dialogs.join('; ')}".` : ''
  if (!signedIn) _failStep(login.at, `after signing in, neither the portal (${selectors.portalLink}) nor an error message (${selectors.loginError}) appeared within ${login.seconds}.${said} An extra verification step? Run with --show to see it`)
  return signedIn.handle
}

/** Step 3: the chat page, until its "start a chat" button shows (or it already called the API). */
async function _openChat(login: LoginPage, portalLink: ElementHandle<Element>) {
  const { page, selectors, timeout, capture } = login
  // Going to the link's URL also works when the link would open a new tab.
  const href = await portalLink.evaluate((el) => (el as HTMLAnchorElement).href)
  await _load(login, href)
  // A chat page that calls the API on load has already given us what we need.
  const chat = await _waitForAny(page, { chatButton: selectors.chatButton }, timeout, capture.seen)
  if (!chat) _failStep(login.at, `the button that starts a chat (${selectors.chatButton}) did not appear within ${login.seconds}`)
  // The button may show before the page's calls on load start: give them a moment,
  // since a click may create a session ("New chat") that then has to be deleted.
  if (!capture.request) await Promise.race([capture.seen, page.waitForNetworkIdle({ idleTime: ON_LOAD_IDLE_MS, timeout: Math.min(timeout, ON_LOAD_WAIT_MAX_MS) }).catch(() => {})])
  return chat
}

/** Step 4: the credentials off the page's API request (clicking "start a chat" if it made none), else off localStorage. */
async function _readCredentials(login: LoginPage, chat: { handle?: ElementHandle<Element> }): Promise<LoginResult> {
  const { page, selectors, timeout, capture } = login
  let createdBefore: number | undefined
  if (!capture.request && chat.handle) {
    createdBefore = capture.createdSessionIds.length
    await chat.handle.evaluate((el) => (el as HTMLElement).click())
    await _waitForAny(page, {}, timeout, capture.seen)
    // Know every session the click created before the browser closes.
    await capture.settle({ quietMs: CLICK_QUIET_MS, timeoutMs: timeout })
  }
  const found = capture.request ? await readLoginFromRequest(page, capture.request) : await readLoginFromLocalStorage(page)
  const result = found && createdBefore !== undefined ? { ...found, createdSessionIds: capture.createdSessionIds.slice(createdBefore), lastApiCallAt: capture.lastCallAt() } : found
  if (!result) {
    const input = (await page.$(selectors.chatInput)) ? `the chat input (${selectors.chatInput}) appeared but ` : ''
    _failStep(login.at, `${input}the page made no request with a jm-token header within ${login.seconds}, and localStorage holds no token`)
  }
  return result
}

/**
 * Logs in with the credentials and options in `settings` (what auth.ts, the
 * keepalive and the adapter do). Throws `E_NO_CREDENTIALS` without them.
 *
 * @example
 * const result = await loginWithSettings(loadSettings(), { headless: false })
 */
export async function loginWithSettings(
  settings: Settings,
  options: Pick<LoginOptions, 'headless' | 'onProgress' | 'screenshotDir'> & {
    /** The pacer of this process's platform calls (the adapter's), for the delete of the login's "New chat". */
    pacer?: Pacer
  } = {},
): Promise<LoginResult> {
  if (!settings.username || !settings.password) {
    throw new XipuError('E_NO_CREDENTIALS', `No XJTLU_USERNAME and XJTLU_PASSWORD in ${settings.envFile}: run npx tsx config.ts first.`)
  }
  const result = await loginWithBrowser({
    webBase: settings.webBase,
    username: settings.username,
    password: settings.password,
    chromePath: settings.chromePath,
    stepTimeoutMs: settings.loginStepTimeoutMs,
    selectors: settings.selectors,
    headless: options.headless,
    onProgress: options.onProgress,
    screenshotDir: options.screenshotDir ?? join(settings.stateDir, 'screenshots'),
  })
  if (!result.createdSessionIds?.length) return result
  const ids = result.createdSessionIds.join(', ')
  options.onProgress?.({ step: TOTAL_STEPS, total: TOTAL_STEPS, message: `Deleting the chat the click on "New chat" created (session ${ids})` })
  return { ...result, newChat: await deleteLoginSessions(result, { settings, pacer: options.pacer }) }
}

async function _launchBrowser(executablePath: string, headless: boolean, userDataDir: string): Promise<Browser> {
  const args = [...BROWSER_ARGS]
  // Chrome refuses to start as root with its sandbox (containers, CI).
  if (process.platform === 'linux' && process.getuid?.() === 0) args.push('--no-sandbox')
  return puppeteer.launch({ executablePath, headless, userDataDir, args, defaultViewport: { width: 1280, height: 900 } })
}

async function _typeInto(page: Page, selector: string, text: string): Promise<void> {
  const input = await page.waitForSelector(selector, { visible: true })
  await input!.evaluate((el) => ((el as HTMLInputElement).value = ''))
  await input!.type(text)
}

/**
 * Waits until the first of `selectors` is visible or `also` settles, at most
 * `timeout` ms. Returns which (with its element), or `undefined` on timeout.
 * Navigations in between are fine: puppeteer re-runs the wait on each new page.
 */
async function _waitForAny<K extends string>(
  page: Page,
  selectors: Partial<Record<K, string>>,
  timeout: number,
  also?: Promise<void>,
): Promise<{ key: K | 'also'; handle?: ElementHandle<Element> } | undefined> {
  const abort = new AbortController()
  const failures: unknown[] = []
  const waits = Object.entries(selectors).map(async ([key, selector]) => {
    try {
      const handle = await page.waitForSelector(selector as string, { visible: true, timeout, signal: abort.signal })
      return { key: key as K, handle: handle ?? undefined }
    } catch (error) {
      if (!abort.signal.aborted && !_isTimeout(error)) failures.push(error)
      throw error
    }
  })
  if (also) waits.push(also.then(() => ({ key: 'also' as K, handle: undefined })))
  // Aborting `abort` in the end also cancels this timer.
  const timedOut = sleep(timeout, undefined, { signal: abort.signal }).catch(() => undefined)
  try {
    const found = await Promise.race([Promise.any(waits).catch(() => undefined), timedOut])
    // A broken selector (say, from XIPU_SELECTORS) is an error of its own, not a timeout.
    if (!found && failures.length > 0) throw failures[0]
    return found
  } finally {
    abort.abort()
  }
}

function _failStep(at: { step: number; message: string }, what: string): never {
  throw new XipuError('E_LOGIN_FAILED', `Login step ${at.step}/${TOTAL_STEPS} (${at.message}) failed: ${what}. The page may have changed: see the screenshot; selectors can be set with XIPU_SELECTORS and the step timeout with XIPU_LOGIN_STEP_TIMEOUT_MS.`)
}

/** Turns any failure into a `XipuError` with its own code and a screenshot. */
async function _explainFailure(
  error: unknown,
  context: { page?: Page; at: { step: number; message: string }; executablePath: string; headless: boolean; screenshotDir?: string },
): Promise<XipuError> {
  const { page, at } = context
  const message = error instanceof Error ? error.message : String(error)
  let explained: XipuError
  const networkError = /net::ERR_[A-Z_]+/.exec(message)?.[0] ?? (page?.url().startsWith('chrome-error://') ? 'a network error' : undefined)
  if (networkError && !(error instanceof XipuError && error.code === 'E_WRONG_PASSWORD')) {
    explained = new XipuError('E_UNREACHABLE', `Login step ${at.step}/${TOTAL_STEPS} (${at.message}) failed: the page could not be loaded (${networkError}). Check the network (on campus, or the VPN) and XIPU_WEB_BASE.`, { cause: error })
  } else if (error instanceof XipuError) {
    explained = error
  } else if (!page) {
    const display = context.headless ? '' : ' A visible window (--show) needs a desktop session.'
    explained = new XipuError('E_NO_CHROME', `Could not start the browser ${context.executablePath}: ${message.replace(/\.+$/, '')}.${display} Set CHROME_PATH in .env to another Chrome, Chromium or Edge.`, { cause: error })
  } else if (_isTimeout(error)) {
    explained = new XipuError('E_LOGIN_FAILED', `Login step ${at.step}/${TOTAL_STEPS} (${at.message}) timed out: ${message}. Raise XIPU_LOGIN_STEP_TIMEOUT_MS, or run with --show to watch.`, { cause: error })
  } else {
    explained = new XipuError('E_LOGIN_FAILED', `Login step ${at.step}/${TOTAL_STEPS} (${at.message}) failed: ${message}`, { cause: error })
  }
  const screenshot = page ? await saveScreenshot(page, context.screenshotDir) : undefined
  if (!screenshot) return explained
  return new XipuError(explained.code, `${explained.message}\nScreenshot saved: ${screenshot}`, { cause: explained.cause })
}

/** Whether puppeteer gave up waiting (its TimeoutError, checked by name so puppeteer loads lazily). */
function _isTimeout(error: unknown): boolean {
  return error instanceof Error && error.name === 'TimeoutError'
}
