/**
 * A simulated XIPU account for the keepalive and self-healing tests: the
 * simulator (with the user's own web chats), and a temporary `.env` as
 * config.ts and auth.ts leave it: saved credentials, tokens, the platform's
 * addresses, Chromium for the logins, and a state folder of its own.
 */
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import type { TestContext } from 'node:test'
import { format } from 'node:util'
import { createConsola, type ConsolaInstance } from 'consola'
import { readEnvFile, updateEnvFile } from '../../lib/env-file.ts'
import { findChrome } from '../../lib/login/find-chrome.ts'
import { startSimulator, type RunningSimulator, type SimulatorOptions } from '../../lib/simulator/index.ts'
import { postChat } from './harness.ts'
import { listAdapterSessions, listUserChats, WEB_CHATS } from './platform.ts'
import { makeTempDir } from './temp-dir.ts'
import { waitFor } from './wait-for.ts'

export const PASSWORD = 'demo-password'
// Faster than the real platform's one second, so that tests do not idle; the
// adapter keeps to the same gap, so the simulator's rate limit still holds.
export const GAP_MS = 200

export interface Account {
  sim: RunningSimulator
  dir: string
  envFile: string
  stateDir: string
  /** The `.env` as it is now. */
  env(): Record<string, string>
  /** Sessions on the platform that the adapter named. */
  adapterSessions(): Array<{ id: number; name: string }>
  /** Names of the sessions on the platform that are not the adapter's. */
  userChats(): string[]
}

/**
 * @example
 * const account = await startAccount(t, { tokenTtlMs: 30_000, env: { XIPU_REAUTH_BEFORE: '20s' } })
 */
export async function startAccount(
  t: TestContext,
  options: { tokenTtlMs?: number; credentials?: boolean; password?: string; env?: Record<string, string>; simulator?: SimulatorOptions } = {},
): Promise<Account> {
  const sim = await startSimulator({ minGapMs: GAP_MS, seedWebChats: WEB_CHATS, ...options.simulator })
  t.after(() => sim.close())
  const { dir, envFile } = makeTempDir(t)
  const stateDir = join(dir, 'state')
  const creds = sim.issueCredentials('demo', options.tokenTtlMs)
  updateEnvFile(envFile, {
    XIPU_WEB_BASE: sim.webBase,
    XIPU_API_BASE: sim.apiBase,
    JM_TOKEN: creds.jmToken,
    SDP_SESSION: creds.sdpSession,
    XIPU_STATE_DIR: stateDir,
    XIPU_MIN_GAP_MS: String(GAP_MS),
    CHROME_PATH: findChrome(process.env.CHROME_PATH),
    PORT: '0',
    ...(options.credentials === false ? {} : { XJTLU_USERNAME: 'demo', XJTLU_PASSWORD: options.password ?? PASSWORD }),
    ...options.env,
  })
  return {
    sim,
    dir,
    envFile,
    stateDir,
    env: () => readEnvFile(envFile),
    adapterSessions: () => listAdapterSessions(sim),
    userChats: () => listUserChats(sim),
  }
}

/** A logger that keeps its lines for assertions instead of printing them. */
export function createCapturingLogger(): { log: ConsolaInstance; lines: string[]; waitForLine(pattern: RegExp, timeoutMs?: number): Promise<string> } {
  const lines: string[] = []
  const log = createConsola({ level: 4, reporters: [{ log: (entry) => lines.push(format(...entry.args)) }] })
  return {
    log,
    lines,
    waitForLine: (pattern, timeoutMs = 60_000) =>
      waitFor(
        () => `a log line matching ${pattern}:\n${lines.join('\n')}`,
        () => lines.find((l) => pattern.test(l)),
        timeoutMs,
      ),
  }
}

/** One chat completion through an adapter; resolves with the status and body text. */
export async function askAdapter(baseURL: string, content: string, init: { stream?: boolean; model?: string } = {}): Promise<{ status: number; text: string }> {
  const response = await postChat(baseURL, { model: init.model ?? 'gpt-4.1', stream: init.stream ?? false, messages: [{ role: 'user', content }] })
  return { status: response.status, text: await response.text() }
}

// Between the requests that cross a token's expiry: a user's pace, not a flood,
// and still a fraction of a second on either side of the expiry.
const REQUEST_PAUSE_MS = 250
// How long past the expiry they go on.
const PAST_EXPIRY_MS = 3000

/**
 * Asks the adapter one question after another, as a user would, until 3 s
 * past a token's `expiry` (a time in ms); resolves with the requests that
 * failed ("status body") and how many were answered after the expiry.
 *
 * @example
 * const { failures, afterExpiry } = await askAcross(adapter.baseURL, expiry)
 */
export async function askAcross(baseURL: string, expiry: number): Promise<{ failures: string[]; afterExpiry: number }> {
  const failures: string[] = []
  let afterExpiry = 0
  for (let n = 0; Date.now() < expiry + PAST_EXPIRY_MS; n++) {
    const { status, text } = await askAdapter(baseURL, `Question ${n}`)
    if (status !== 200) failures.push(`${status} ${text}`)
    if (Date.now() > expiry) afterExpiry++
    await sleep(REQUEST_PAUSE_MS)
  }
  return { failures, afterExpiry }
}
