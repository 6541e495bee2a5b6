/**
 * One simulated platform and one adapter in front of it, in this process,
 * over real sockets, with the official `openai` SDK as the client. Nothing of
 * ours is mocked: the adapter is the one `adapter.ts` starts, the platform is
 * the simulator.
 *
 * The credentials and the API base go into a temporary `.env` (as auth.ts
 * would leave them), so that a test can rewrite the token while the adapter
 * runs; everything else is an override, and the process environment is not
 * read at all, so a developer's own settings cannot change what a test sees.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { TestContext } from 'node:test'
import type { ConsolaInstance } from 'consola'
import OpenAI from 'openai'
import { startAdapter, type RunningAdapter } from '../../lib/adapter/start.ts'
import { updateEnvFile } from '../../lib/env-file.ts'
import { setLogLevel } from '../../lib/log.ts'
import { startSimulator, type RecordedCall, type RunningSimulator, type SimulatorOptions } from '../../lib/simulator/index.ts'
import { listAdapterSessions, listUserChats, WEB_CHATS } from './platform.ts'
import { waitFor } from './wait-for.ts'

// Bounds for "eventually": generous, because they are safety nets, not speed checks.
const SETTLE_TIMEOUT_MS = 30_000
// Streams still running when a stack stops get this long to finish.
const CLOSE_GRACE_MS = 2000

export interface StackOptions {
  /** Gap between platform calls, for both the simulator (429 below it) and the adapter's pacer (default 100). */
  gapMs?: number
  /** Options of the simulator (`minGapMs` defaults to `gapMs`, `seedWebChats` to `WEB_CHATS`). */
  simulator?: SimulatorOptions
  /**
   * Keep one session ready for the next request (`XIPU_PREPARE_SESSION`). The
   * adapter's own default is on; here it is off (default false), so that each
   * request runs the plain lifecycle: create, chat, delete.
   */
  readySession?: boolean
  /**
   * Serve requests from the pool of stateless sessions (`XIPU_SESSION_REUSE`,
   * default true as in the adapter); false: one fresh session a request.
   */
  reuse?: boolean
  /** Adapter settings that beat `.env` (e.g. `XIPU_BODY_LIMIT`); an `ADAPTER_API_KEY` here is also the SDK's key. */
  overrides?: Record<string, string>
  /** Stop the stack when this test ends (without it, call `close()`, e.g. in a suite's `after`). */
  stopAfter?: TestContext
  /** The adapter's logger (default: its own), e.g. one that collects lines for a test to read. */
  log?: ConsolaInstance
}

export interface Stack {
  sim: RunningSimulator
  adapter: RunningAdapter
  /** The official SDK, pointed at the adapter, with no retries of its own. */
  openai: OpenAI
  envFile: string
  gapMs: number
  /** The user's own web chats the platform was seeded with. */
  webChats: string[]
  /** Calls that reached the platform (only those to `endpoint`, or from index `since` on, when given). */
  calls(filter?: { endpoint?: string; since?: number }): RecordedCall[]
  /** Sessions on the platform that the adapter named. */
  adapterSessions(): Array<{ id: number; name: string }>
  /** Names of the sessions on the platform that are not the adapter's. */
  userChats(): string[]
  /** Sessions on the platform other than the seeded web chats, whoever named them. */
  unseededSessions(): Array<{ id: number; name: string }>
  /**
   * Waits until nothing is left behind: the platform holds only the seeded web
   * chats and the adapter's free pooled sessions (each journalled), and no
   * upstream stream is open. At shutdown the pooled ones go too.
   */
  waitForCleanPlatform(): Promise<void>
  /** Writes new credentials into the `.env` file the adapter reads. */
  writeCredentials(creds: { jmToken: string; sdpSession: string }): void
  /** POSTs a chat completion with fetch (for raw wire checks and bad input). */
  postChat(body: unknown, init?: RequestInit): Promise<Response>
  /** Stops the adapter (streams get a short grace), then the simulator; removes the temporary files. */
  close(): Promise<void>
}

/**
 * @example
 * const stack = await startStack({ stopAfter: t, overrides: { XIPU_QUEUE_MAX: '2' } })
 * const reply = await stack.openai.chat.completions.create({ model: 'gpt-4.1', messages })
 */
export async function startStack(options: StackOptions = {}): Promise<Stack> {
  // Errors only: the tests provoke warnings on purpose. XIPU_LOG_LEVEL=1 adds them, 3 the request log.
  setLogLevel(Number(process.env.XIPU_LOG_LEVEL ?? 0))
  const gapMs = options.gapMs ?? 100
  const webChats = options.simulator?.seedWebChats ?? WEB_CHATS
  const dir = mkdtempSync(join(tmpdir(), 'xipu-stack-'))
  const envFile = join(dir, '.env')

  const sim = await startSimulator({ minGapMs: gapMs, ...options.simulator, seedWebChats: webChats })
  updateEnvFile(envFile, sim.adapterEnv())

  let adapter: RunningAdapter
  try {
    adapter = await startAdapter({
      port: 0,
      envFile,
      env: {},
      log: options.log,
      overrides: {
        XIPU_STATE_DIR: join(dir, 'state'),
        XIPU_MIN_GAP_MS: String(gapMs),
        XIPU_PREPARE_SESSION: options.readySession ? '1' : '0',
        XIPU_SESSION_REUSE: options.reuse === false ? '0' : '1',
        ...options.overrides,
      },
    })
  } catch (error) {
    await sim.close()
    rmSync(dir, { recursive: true, force: true })
    throw error
  }

  const openai = new OpenAI({ baseURL: adapter.baseURL, apiKey: options.overrides?.ADAPTER_API_KEY ?? 'unused', maxRetries: 0, timeout: 120_000 })
  const seeded = new Set(webChats)
  let closed = false

  const stack: Stack = {
    sim,
    adapter,
    openai,
    envFile,
    gapMs,
    webChats,
    calls: ({ endpoint, since = 0 } = {}) => sim.state.calls.slice(since).filter((c) => endpoint === undefined || c.endpoint === endpoint),
    adapterSessions: () => listAdapterSessions(sim),
    userChats: () => listUserChats(sim),
    unseededSessions: () => [...sim.state.sessions.values()].filter((s) => !seeded.has(s.name)).map((s) => ({ id: s.id, name: s.name })),
    async waitForCleanPlatform() {
      const pooledFree = () => new Set(adapter.sessions.pool.freeIds().filter((id) => adapter.journal.has(id)))
      await waitFor(
        () => `sessions beyond the web chats: ${JSON.stringify(stack.unseededSessions())} (pooled and free: ${[...pooledFree()]}), upstream streams open: ${sim.state.streamsOpen}`,
        () => stack.unseededSessions().every((s) => pooledFree().has(s.id)) && sim.state.streamsOpen === 0,
        SETTLE_TIMEOUT_MS,
      )
    },
    writeCredentials(creds) {
      updateEnvFile(envFile, { JM_TOKEN: creds.jmToken, SDP_SESSION: creds.sdpSession })
    },
    postChat: (body, init) => postChat(adapter.baseURL, body, init),
    async close() {
      if (closed) return
      closed = true
      try {
        await adapter.close(CLOSE_GRACE_MS)
      } finally {
        await sim.close()
        rmSync(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 })
      }
    },
  }
  options.stopAfter?.after(() => stack.close())
  return stack
}

/**
 * POSTs a chat completion to an adapter (in this process or spawned) with
 * fetch; a string body is sent as is, anything else as JSON.
 *
 * @example
 * const response = await postChat(adapter.baseURL, { model: 'gpt-4.1', messages: [{ role: 'user', content: 'Hi' }] })
 */
export function postChat(baseURL: string, body: unknown, init: RequestInit = {}): Promise<Response> {
  return fetch(`${baseURL}/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
    ...init,
  })
}
