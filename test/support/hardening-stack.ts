/**
 * What the hardening tests share: a simulator plus an in-process adapter on
 * random ports (cleaned up with the test), a real `adapter.ts` process for the
 * signal and startup tests, bounded waits, and a raw SSE reader for checking
 * the wire format where the SDK would hide it.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { TestContext } from 'node:test'
import { fileURLToPath } from 'node:url'
import OpenAI from 'openai'
import { startAdapter, type RunningAdapter } from '../../lib/adapter-server.ts'
import { setLogLevel } from '../../lib/log.ts'
import { SESSION_NAME_PREFIX } from '../../lib/session-names.ts'
import { startSimulator, type RecordedCall, type RunningSimulator, type SimulatorOptions } from '../../lib/simulator/index.ts'

export const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url))

/** The web chats every stack seeds: the user's own, never to be deleted. */
export const WEB_CHATS = ['My thesis notes', 'Weekend plans']

// Settings that would leak in from a developer's shell and change what a test sees.
const SETTING_KEY = /^(XIPU_|XJTLU_|JM_TOKEN$|SDP_SESSION$|CHROME_PATH$|ADAPTER_API_KEY$|PORT$|HOST$)/

export interface HardeningStack {
  sim: RunningSimulator
  adapter: RunningAdapter
  /** The official SDK pointed at the adapter, without retries of its own. */
  openai: OpenAI
  dir: string
  envFile: string
  /** Ids of the sessions on the platform that the adapter named. */
  adapterSessions(): number[]
  /** Names of the sessions on the platform that are not the adapter's. */
  userChats(): string[]
  /** Calls the simulator recorded (to `endpoint`, when given). */
  calls(endpoint?: string): RecordedCall[]
}

/**
 * Starts a simulator and an adapter pointed at it; both stop when `t` ends.
 * The gap defaults to 100 ms on both sides to keep the suite quick.
 *
 * @example
 * const stack = await startHardeningStack(t, { env: { XIPU_QUEUE_MAX: '2' } })
 */
export async function startHardeningStack(
  t: TestContext,
  options: { sim?: SimulatorOptions; env?: Record<string, string>; gapMs?: number; quiet?: boolean } = {},
): Promise<HardeningStack> {
  if (options.quiet !== false) setLogLevel(Number(process.env.XIPU_LOG_LEVEL ?? 1))
  const gap = options.gapMs ?? 100
  const sim = await startSimulator({ seedWebChats: WEB_CHATS, minGapMs: gap, ...options.sim })
  const dir = mkdtempSync(join(tmpdir(), 'xipu-hardening-'))
  const envFile = join(dir, '.env')
  let adapter: RunningAdapter
  try {
    adapter = await startAdapter({
      port: 0,
      envFile,
      env: {},
      overrides: { ...sim.adapterEnv(), XIPU_STATE_DIR: join(dir, 'state'), XIPU_MIN_GAP_MS: String(gap), ...options.env },
    })
  } catch (error) {
    await sim.close()
    rmSync(dir, { recursive: true, force: true })
    throw error
  }
  t.after(async () => {
    await adapter.close(500)
    await sim.close()
    rmSync(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 })
  })
  const openai = new OpenAI({ baseURL: adapter.baseURL, apiKey: options.env?.ADAPTER_API_KEY ?? 'unused', maxRetries: 0 })
  return {
    sim,
    adapter,
    openai,
    dir,
    envFile,
    adapterSessions: () => [...sim.state.sessions.values()].filter((s) => s.name.startsWith(SESSION_NAME_PREFIX)).map((s) => s.id),
    userChats: () => [...sim.state.sessions.values()].filter((s) => !s.name.startsWith(SESSION_NAME_PREFIX)).map((s) => s.name),
    calls: (endpoint) => sim.state.calls.filter((c) => endpoint === undefined || c.endpoint === endpoint),
  }
}

/**
 * Waits until `check` returns a truthy value (and returns it), at most
 * `timeoutMs`. A bound on a hang, never a measure of speed.
 */
export async function waitFor<T>(what: string, check: () => T | Promise<T>, timeoutMs = 15_000): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await check()
    if (value) return value as NonNullable<T>
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for: ${what}`)
    await new Promise((r) => setTimeout(r, 25))
  }
}

/** The smallest gap between two consecutive calls the simulator received, in ms. */
export function minCallGap(calls: RecordedCall[]): number {
  const times = calls.map((c) => c.at).sort((a, b) => a - b)
  let min = Number.POSITIVE_INFINITY
  for (let i = 1; i < times.length; i++) min = Math.min(min, times[i]! - times[i - 1]!)
  return min
}

/** The session id a completions call was made for. */
export function sessionIdOf(call: RecordedCall): number {
  return Number((call.body as { sessionId?: unknown }).sessionId)
}

/** The ids every recorded `delSession` call asked to delete. */
export function deletedIds(calls: RecordedCall[]): number[] {
  return calls.filter((c) => c.endpoint === 'delSession' && c.status === 200).flatMap((c) => (c.body as { ids: number[] }).ids)
}

/** Reads an SSE body event by event (each `data:` payload, as text). */
export async function* readSseData(body: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  const decoder = new TextDecoder()
  let buffer = ''
  for await (const chunk of body as unknown as AsyncIterable<Uint8Array>) {
    buffer += decoder.decode(chunk, { stream: true })
    let end: number
    while ((end = buffer.indexOf('\n\n')) !== -1) {
      const event = buffer.slice(0, end)
      buffer = buffer.slice(end + 2)
      const data = event.split('\n').filter((l) => l.startsWith('data: ')).map((l) => l.slice(6)).join('\n')
      if (data) yield data
    }
  }
}

/** A free TCP port on 127.0.0.1 (for a spawned adapter, which takes PORT). */
export function getFreePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.unref()
    server.on('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      const port = typeof address === 'object' && address ? address.port : 0
      server.close(() => resolve(port))
    })
  })
}

export interface AdapterProcess {
  child: ChildProcessWithoutNullStreams
  url: string
  /** stdout and stderr so far. */
  output(): string
  /** Resolves when the process has exited. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
}

// A safety net for a hung child, not an assertion on timing.
const HANG_LIMIT_MS = 60_000

/**
 * Runs `adapter.ts` as a user would (`node --import tsx adapter.ts`) with
 * only `env` for settings (none of the caller's), a temporary `.env`, and a
 * free port. Killed when `t` ends if still running.
 *
 * @example
 * const proc = spawnAdapter(t, { ...sim.adapterEnv(), XIPU_STATE_DIR: dir }, dir)
 * await waitForHealth(proc)
 */
export async function spawnAdapter(t: TestContext, env: Record<string, string>, dir: string): Promise<AdapterProcess> {
  const port = env.PORT ?? String(await getFreePort())
  const childEnv: NodeJS.ProcessEnv = {}
  for (const [key, value] of Object.entries(process.env)) if (!SETTING_KEY.test(key)) childEnv[key] = value
  Object.assign(childEnv, { NO_COLOR: '1', XIPU_ENV_FILE: join(dir, '.env'), PORT: port }, env)
  const child = spawn(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'adapter.ts')], { cwd: REPO_ROOT, env: childEnv, stdio: 'pipe' })
  let output = ''
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk))
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk))
  const timer = setTimeout(() => child.kill('SIGKILL'), HANG_LIMIT_MS)
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on('exit', (code, signal) => {
      clearTimeout(timer)
      resolve({ code, signal })
    })
  })
  t.after(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL')
      await exited
    }
  })
  const host = env.HOST && env.HOST !== '0.0.0.0' ? env.HOST : '127.0.0.1'
  return { child, url: `http://${host}:${port}`, output: () => output, exited }
}

/** Waits until a spawned adapter answers `/health` (or throws with its output when it exits first). */
export async function waitForHealth(proc: AdapterProcess, timeoutMs = 30_000): Promise<void> {
  let exited = false
  void proc.exited.then(() => (exited = true))
  await waitFor(
    'the spawned adapter to answer /health',
    async () => {
      if (exited) throw new Error(`The adapter exited before it was ready:\n${proc.output()}`)
      try {
        return (await fetch(`${proc.url}/health`)).ok
      } catch {
        return false
      }
    },
    timeoutMs,
  )
}
