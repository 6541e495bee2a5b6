/**
 * Our top-level scripts as child processes, started as a user would
 * (`node --import tsx adapter.ts`) against a temporary `.env`
 * (`XIPU_ENV_FILE`), with none of the caller's settings leaking in from the
 * environment. Run one to its end (`runScript`), or keep one running and
 * watch what it prints (`spawnScript`; `spawnAdapter` for an adapter on a
 * free port, `startSimulatorForProcess` for the platform it talks to,
 * `waitForHealth` until it serves).
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { createServer } from 'node:net'
import { join } from 'node:path'
import type { TestContext } from 'node:test'
import { fileURLToPath } from 'node:url'
import { startSimulator, type RunningSimulator, type SimulatorOptions } from '../../lib/simulator/index.ts'
import { makeTempDir } from './temp-dir.ts'
import { waitFor } from './wait-for.ts'

export const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url))

// Settings read from the environment win over .env: a developer's own
// JM_TOKEN or XIPU_WEB_BASE must not change what a test sees.
const SETTING_KEY = /^(XIPU_|XJTLU_|JM_TOKEN$|SDP_SESSION$|CHROME_PATH$|ADAPTER_API_KEY$|PORT$|HOST$)/

// Safety nets for a hung child, not assertions on timing.
const RUN_LIMIT_MS = 120_000 // a script run to its end is killed after this
const OUTPUT_WAIT_MS = 90_000 // waiting for a running script to print something
const ADAPTER_KILL_MS = 180_000 // a spawned adapter is killed after this (longer than any test that spawns one)
const HEALTH_WAIT_MS = 90_000

export interface ScriptOptions {
  /** The `.env` the script reads (`XIPU_ENV_FILE`). */
  envFile: string
  args?: string[]
  /** Settings in the child's environment (they beat `.env`). */
  env?: Record<string, string>
}

/** Starts `node --import tsx <script>` from the repository root with a clean environment. */
function _spawnTsx(script: string, options: ScriptOptions, stdin: 'pipe' | 'ignore'): ChildProcess {
  const env: NodeJS.ProcessEnv = {}
  for (const [key, value] of Object.entries(process.env)) if (!SETTING_KEY.test(key)) env[key] = value
  Object.assign(env, { NO_COLOR: '1', XIPU_ENV_FILE: options.envFile }, options.env)
  return spawn(process.execPath, ['--import', 'tsx', join(REPO_ROOT, script), ...(options.args ?? [])], { cwd: REPO_ROOT, env, stdio: [stdin, 'pipe', 'pipe'] })
}

export interface ScriptRun {
  code: number | null
  stdout: string
  stderr: string
  /** stdout and stderr together, for "never printed" checks. */
  output: string
}

/**
 * Runs a script to its end, with `input` on its standard input.
 *
 * @example
 * const run = await runScript('expire.ts', { envFile, args: ['--json'] })
 * assert.equal(run.code, 0)
 */
export function runScript(script: string, options: ScriptOptions & { input?: string }): Promise<ScriptRun> {
  const child = _spawnTsx(script, options, 'pipe')
  let stdout = ''
  let stderr = ''
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk))
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk))
  child.stdin!.end(options.input ?? '')
  const timer = setTimeout(() => child.kill(), RUN_LIMIT_MS)
  return new Promise((resolve, reject) => {
    child.on('error', reject)
    child.on('close', (code) => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr, output: stdout + stderr })
    })
  })
}

export interface SpawnedScript {
  child: ChildProcess
  pid: number
  /** Everything printed so far (stdout and stderr). */
  output(): string
  /** Resolves with the first match of `pattern` in the output (waiting for it), rejects if the process ends first. */
  waitForOutput(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>
  /** Resolves with the exit code once the process has ended (null when killed by a signal). */
  exited: Promise<number | null>
  running(): boolean
}

/**
 * Starts a long-running script (an adapter, a keepalive); it is killed when
 * `t` ends if still running, or after `killAfterMs` when given.
 *
 * @example
 * const adapter = spawnScript(t, 'adapter.ts', { envFile })
 * const [url] = await adapter.waitForOutput(/http:\/\/127\.0\.0\.1:\d+\/v1/)
 * adapter.child.kill('SIGKILL')
 */
export function spawnScript(t: TestContext, script: string, options: ScriptOptions & { killAfterMs?: number }): SpawnedScript {
  const child = _spawnTsx(script, options, 'ignore')
  let output = ''
  let ended = false
  const listeners = new Set<() => void>()
  const onOutput = (chunk: string) => {
    output += chunk
    for (const listener of listeners) listener()
  }
  child.stdout!.setEncoding('utf8').on('data', onOutput)
  child.stderr!.setEncoding('utf8').on('data', onOutput)
  const killTimer = options.killAfterMs === undefined ? undefined : setTimeout(() => child.kill('SIGKILL'), options.killAfterMs)
  const exited = new Promise<number | null>((resolve) =>
    child.on('exit', (code) => {
      ended = true
      clearTimeout(killTimer)
      for (const listener of listeners) listener()
      resolve(code)
    }),
  )
  t.after(async () => {
    if (!ended) {
      child.kill('SIGKILL')
      await exited
    }
  })

  return {
    child,
    pid: child.pid!,
    output: () => output,
    exited,
    running: () => !ended,
    waitForOutput(pattern, timeoutMs = OUTPUT_WAIT_MS) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const match = pattern.exec(output)
          if (match) done(() => resolve(match))
          else if (ended) done(() => reject(new Error(`${script} ended before printing ${pattern}:\n${output}`)))
        }
        const timer = setTimeout(() => done(() => reject(new Error(`${script} did not print ${pattern} in time:\n${output}`))), timeoutMs)
        const done = (settle: () => void) => {
          clearTimeout(timer)
          listeners.delete(check)
          settle()
        }
        listeners.add(check)
        check()
      })
    },
  }
}

export interface AdapterProcess extends SpawnedScript {
  /** Where it listens (`http://127.0.0.1:PORT`). */
  url: string
}

/**
 * Runs `adapter.ts` with only `env` for settings, `dir/.env` for its `.env`,
 * and a free port (unless `env.PORT` names one).
 *
 * @example
 * const proc = await spawnAdapter(t, { ...sim.adapterEnv(), XIPU_STATE_DIR: dir }, dir)
 * await waitForHealth(proc)
 */
export async function spawnAdapter(t: TestContext, env: Record<string, string>, dir: string): Promise<AdapterProcess> {
  const port = env.PORT ?? String(await _getFreePort())
  const script = spawnScript(t, 'adapter.ts', { envFile: join(dir, '.env'), env: { PORT: port, ...env }, killAfterMs: ADAPTER_KILL_MS })
  const host = env.HOST && env.HOST !== '0.0.0.0' ? env.HOST : '127.0.0.1'
  return { ...script, url: `http://${host}:${port}` }
}

export interface SimulatorForProcess {
  sim: RunningSimulator
  /** For the adapter's `.env` (`dir/.env`, not written) and its state (`dir/state`). */
  dir: string
  creds: ReturnType<RunningSimulator['issueCredentials']>
  /** The settings that point an adapter at the simulator, with its state folder. */
  env: { JM_TOKEN: string; SDP_SESSION: string; XIPU_API_BASE: string; XIPU_WEB_BASE: string; XIPU_STATE_DIR: string }
}

/**
 * A simulator in this process for an adapter to be spawned, a temporary
 * folder for that adapter's `.env` and state, and the settings that point it
 * at the simulator; the simulator and the folder go when `t` ends.
 *
 * @example
 * const { dir, env } = await startSimulatorForProcess(t, { minGapMs: 100 })
 * const proc = await spawnAdapter(t, { ...env, XIPU_LOG_PROMPTS: '1' }, dir)
 */
export async function startSimulatorForProcess(t: TestContext, options: SimulatorOptions = {}): Promise<SimulatorForProcess> {
  const sim = await startSimulator(options)
  t.after(() => sim.close())
  const { dir } = makeTempDir(t)
  const creds = sim.issueCredentials()
  const env = { JM_TOKEN: creds.jmToken, SDP_SESSION: creds.sdpSession, XIPU_API_BASE: sim.apiBase, XIPU_WEB_BASE: sim.webBase, XIPU_STATE_DIR: join(dir, 'state') }
  return { sim, dir, creds, env }
}

/** Waits until a spawned adapter answers `/health` (or throws with its output when it exits first). */
export async function waitForHealth(proc: AdapterProcess, timeoutMs = HEALTH_WAIT_MS): Promise<void> {
  await waitFor(
    'the spawned adapter to answer /health',
    async () => {
      if (!proc.running()) throw new Error(`The adapter exited before it was ready:\n${proc.output()}`)
      try {
        return (await fetch(`${proc.url}/health`)).ok
      } catch {
        return false
      }
    },
    timeoutMs,
  )
}

/** A free TCP port on 127.0.0.1 (for a spawned adapter, which takes PORT). */
function _getFreePort(): Promise<number> {
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
