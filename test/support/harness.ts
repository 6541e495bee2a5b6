/**
 * One simulated platform and one adapter in front of it, over real sockets,
 * with the official `openai` SDK as the client. Nothing of ours is mocked:
 * the adapter is the one `adapter.ts` starts, the platform is the simulator.
 *
 * The credentials and the API base go into a temporary `.env` (as auth.ts
 * would leave them), so that a test can rewrite the token while the adapter
 * runs; everything else is an override, and the process environment is not
 * read at all, so a developer's own settings cannot change what a test sees.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createConsola } from 'consola'
import OpenAI from 'openai'
import { startAdapter, type RunningAdapter } from '../../lib/adapter-server.ts'
import { updateEnvFile } from '../../lib/env-file.ts'
import { isAdapterSessionName } from '../../lib/session-names.ts'
import { startSimulator, type RecordedCall, type RunningSimulator, type SimulatorOptions } from '../../lib/simulator/index.ts'

/** The platform endpoints the adapter may call (the SSO pages are not part of the API). */
export const API_ENDPOINTS = new Set(['config', 'session', 'saveSession', 'delSession', 'completions', 'upload'])

// Bounds for "eventually": generous, because they are safety nets, not speed checks.
const SETTLE_TIMEOUT_MS = 30_000
const POLL_MS = 25

export interface StackOptions {
  /** Gap between platform calls, for both the simulator (429 below it) and the adapter's pacer (default 150). */
  gapMs?: number
  /** Options of the simulator (its `minGapMs` defaults to `gapMs`). */
  simulator?: SimulatorOptions
  /** Adapter settings that beat `.env` (e.g. `XIPU_BODY_LIMIT`). */
  overrides?: Record<string, string>
  /** Web chats the user already has (default: two). */
  seedWebChats?: string[]
}

export interface Stack {
  sim: RunningSimulator
  adapter: RunningAdapter
  /** The official SDK, pointed at the adapter, with no retries of its own. */
  openai: OpenAI
  /** The adapter's OpenAI base URL (`http://127.0.0.1:PORT/v1`). */
  baseURL: string
  envFile: string
  stateDir: string
  gapMs: number
  seedWebChats: string[]
  /** Calls that reached the platform's API, optionally only those from index `since` on. */
  apiCalls(since?: number): RecordedCall[]
  /** Sessions on the platform that are not seeded web chats. */
  adapterSessions(): Array<{ id: number; name: string }>
  /** Waits until the adapter has no session left on the platform and no upstream stream open. */
  waitForCleanPlatform(): Promise<void>
  /** Writes new credentials into the `.env` file the adapter reads. */
  writeCredentials(creds: { jmToken: string; sdpSession: string }): void
  /** POSTs a chat completion with fetch (for raw wire checks and bad input). */
  postChat(body: unknown, init?: RequestInit): Promise<Response>
  close(): Promise<void>
}

/**
 * @example
 * const stack = await startStack({ gapMs: 150 })
 * t.after(() => stack.close())
 * const reply = await stack.openai.chat.completions.create({ model: 'gpt-4.1', messages })
 */
export async function startStack(options: StackOptions = {}): Promise<Stack> {
  const gapMs = options.gapMs ?? 150
  const seedWebChats = options.seedWebChats ?? ['My own web chat', '周末计划 (a web chat)']
  const dir = mkdtempSync(join(tmpdir(), 'xipu-stack-'))
  const envFile = join(dir, '.env')
  const stateDir = join(dir, 'state')

  const sim = await startSimulator({ minGapMs: gapMs, seedWebChats, ...options.simulator })
  const env = sim.adapterEnv()
  updateEnvFile(envFile, env)

  let adapter: RunningAdapter
  try {
    adapter = await startAdapter({
      port: 0,
      host: '127.0.0.1',
      envFile,
      env: {},
      // Errors only; XIPU_TEST_LOG_LEVEL=1 adds warnings, 3 the request log.
      log: createConsola({ level: Number(process.env.XIPU_TEST_LOG_LEVEL ?? 0) }).withTag('adapter'),
      overrides: {
        XIPU_STATE_DIR: stateDir,
        XIPU_MIN_GAP_MS: String(gapMs),
        // The per-request lifecycle (create, chat, delete) unless a test asks for the ready session.
        XIPU_PREPARE_SESSION: '0',
        ...options.overrides,
      },
    })
  } catch (error) {
    await sim.close()
    rmSync(dir, { recursive: true, force: true })
    throw error
  }

  const openai = new OpenAI({ baseURL: adapter.baseURL, apiKey: 'unused', maxRetries: 0, timeout: 120_000 })
  const seeded = new Set(seedWebChats)
  let closed = false

  const stack: Stack = {
    sim,
    adapter,
    openai,
    baseURL: adapter.baseURL,
    envFile,
    stateDir,
    gapMs,
    seedWebChats,
    apiCalls: (since = 0) => sim.state.calls.slice(since).filter((c) => API_ENDPOINTS.has(c.endpoint)),
    adapterSessions: () => [...sim.state.sessions.values()].filter((s) => !seeded.has(s.name)).map((s) => ({ id: s.id, name: s.name })),
    async waitForCleanPlatform() {
      await waitFor(
        () => stack.adapterSessions().length === 0 && sim.state.streamsOpen === 0,
        () => `adapter sessions left: ${JSON.stringify(stack.adapterSessions())}, upstream streams open: ${sim.state.streamsOpen}`,
      )
    },
    writeCredentials(creds) {
      updateEnvFile(envFile, { JM_TOKEN: creds.jmToken, SDP_SESSION: creds.sdpSession })
    },
    postChat(body, init = {}) {
      return fetch(`${adapter.baseURL}/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: typeof body === 'string' ? body : JSON.stringify(body),
        ...init,
      })
    },
    async close() {
      if (closed) return
      closed = true
      try {
        await adapter.close(2000)
      } finally {
        await sim.close()
        rmSync(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 })
      }
    },
  }
  return stack
}

/** Polls `condition` until it holds; fails with `describe()` after a generous bound. */
export async function waitFor(condition: () => boolean, describe: () => string, timeoutMs = SETTLE_TIMEOUT_MS): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting: ${describe()}`)
    await new Promise((r) => setTimeout(r, POLL_MS))
  }
}

/** The smallest gap between the arrivals of two consecutive platform API calls, in ms (Infinity for fewer than two). */
export function smallestGap(calls: RecordedCall[]): number {
  let min = Number.POSITIVE_INFINITY
  for (let i = 1; i < calls.length; i++) min = Math.min(min, calls[i]!.at - calls[i - 1]!.at)
  return min
}

/** Whether a platform session name is one the adapter gave (re-exported for tests). */
export { isAdapterSessionName }
