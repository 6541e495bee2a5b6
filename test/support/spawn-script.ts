/**
 * Starts one of our top-level scripts as a long-running process (an adapter,
 * a keepalive), as a user would (`node --import tsx adapter.ts`), against a
 * temporary `.env`, and lets a test wait for what it prints, stop it or kill it.
 * The caller's own XIPU settings do not leak in from the environment.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { join } from 'node:path'
import type { TestContext } from 'node:test'
import { REPO_ROOT } from './run-script.ts'

const SETTING_KEY = /^(XIPU_|XJTLU_|JM_TOKEN$|SDP_SESSION$|CHROME_PATH$|ADAPTER_API_KEY$|PORT$|HOST$)/
// Safety nets for a hung child, not assertions on timing.
const WAIT_LIMIT_MS = 90_000

export interface SpawnedScript {
  child: ChildProcess
  pid: number
  /** Everything printed so far (stdout and stderr). */
  output(): string
  /** Resolves with the first match of `pattern` in the output (waiting for it), rejects if the process ends first. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>
  /** Resolves with the exit code once the process has ended (null when killed by a signal). */
  exited: Promise<number | null>
  running(): boolean
}

/**
 * @example
 * const adapter = spawnScript(t, 'adapter.ts', { envFile })
 * const [url] = await adapter.waitFor(/http:\/\/127\.0\.0\.1:\d+\/v1/)
 * adapter.child.kill('SIGKILL')
 */
export function spawnScript(t: TestContext, script: string, options: { envFile: string; args?: string[] }): SpawnedScript {
  const env: NodeJS.ProcessEnv = {}
  for (const [key, value] of Object.entries(process.env)) if (!SETTING_KEY.test(key)) env[key] = value
  Object.assign(env, { NO_COLOR: '1', XIPU_ENV_FILE: options.envFile })
  const child = spawn(process.execPath, ['--import', 'tsx', join(REPO_ROOT, script), ...(options.args ?? [])], { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  let ended = false
  const listeners = new Set<() => void>()
  const onOutput = (chunk: string) => {
    output += chunk
    for (const listener of listeners) listener()
  }
  child.stdout!.setEncoding('utf8').on('data', onOutput)
  child.stderr!.setEncoding('utf8').on('data', onOutput)
  const exited = new Promise<number | null>((resolve) =>
    child.on('exit', (code) => {
      ended = true
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
    waitFor(pattern, timeoutMs = WAIT_LIMIT_MS) {
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
