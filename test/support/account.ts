/**
 * A simulated XIPU account for the keepalive and self-healing tests: the
 * simulator (with the user's own web chats), and a temporary `.env` as
 * config.ts and auth.ts leave it: saved credentials, tokens, the platform's
 * addresses, Chromium for the logins, and a state folder of its own.
 */
import { join } from 'node:path'
import type { TestContext } from 'node:test'
import { format } from 'node:util'
import { createConsola, type ConsolaInstance } from 'consola'
import { readEnvFile, updateEnvFile } from '../../lib/env-file.ts'
import { findChrome } from '../../lib/find-chrome.ts'
import { isAdapterSessionName } from '../../lib/session-names.ts'
import { startSimulator, type RunningSimulator, type SimulatorOptions } from '../../lib/simulator/index.ts'
import { makeTempDir } from './temp-dir.ts'

export const PASSWORD = 'demo-password'
export const WEB_CHATS = ['My own web chat', 'Thesis notes (a web chat)']
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
  /** Sessions on the platform that are not the user's web chats. */
  adapterSessions(): Array<{ id: number; name: string }>
  webChats(): string[]
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
    adapterSessions: () => [...sim.state.sessions.values()].filter((s) => isAdapterSessionName(s.name)).map((s) => ({ id: s.id, name: s.name })),
    webChats: () => [...sim.state.sessions.values()].filter((s) => !isAdapterSessionName(s.name)).map((s) => s.name),
  }
}

/** A logger that keeps its lines for assertions instead of printing them. */
export function createCapturingLogger(): { log: ConsolaInstance; lines: string[]; waitFor(pattern: RegExp, timeoutMs?: number): Promise<string> } {
  const lines: string[] = []
  const log = createConsola({ level: 4, reporters: [{ log: (entry) => lines.push(format(...entry.args)) }] })
  return {
    log,
    lines,
    async waitFor(pattern, timeoutMs = 60_000) {
      const deadline = Date.now() + timeoutMs
      for (;;) {
        const line = lines.find((l) => pattern.test(l))
        if (line) return line
        if (Date.now() > deadline) throw new Error(`No log line matched ${pattern}:\n${lines.join('\n')}`)
        await new Promise((resolve) => setTimeout(resolve, 50))
      }
    },
  }
}

/** Polls `condition` until it holds (a safety-net timeout, not a speed check). */
export async function waitUntil(condition: () => boolean, what: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting until ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

/** One chat completion through an adapter, with fetch; resolves with the status and body text. */
export async function postChat(baseURL: string, content: string, init: { stream?: boolean; model?: string } = {}): Promise<{ status: number; text: string }> {
  const response = await fetch(`${baseURL}/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: init.model ?? 'gpt-4.1', stream: init.stream ?? false, messages: [{ role: 'user', content }] }),
  })
  return { status: response.status, text: await response.text() }
}
