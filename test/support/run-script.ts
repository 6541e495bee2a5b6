/**
 * Runs one of our top-level scripts as a user would (`node --import tsx
 * auth.ts`), against a temporary `.env` (`XIPU_ENV_FILE`), with none of the
 * caller's XIPU settings leaking in from the environment.
 */
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { join } from 'node:path'

export const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url))

// Settings read from the environment win over .env: a developer's own
// JM_TOKEN or XIPU_WEB_BASE must not change what a test sees.
const SETTING_KEY = /^(XIPU_|XJTLU_|JM_TOKEN$|SDP_SESSION$|CHROME_PATH$|ADAPTER_API_KEY$|PORT$|HOST$)/

// A safety net for a hung child, not an assertion on timing.
const HANG_LIMIT_MS = 120_000

export interface ScriptRun {
  code: number | null
  stdout: string
  stderr: string
  /** stdout and stderr together, for "never printed" checks. */
  output: string
}

/**
 * @example
 * const run = await runScript('expire.ts', { envFile, args: ['--json'] })
 * assert.equal(run.code, 0)
 */
export function runScript(
  script: string,
  options: { envFile: string; args?: string[]; env?: Record<string, string>; input?: string },
): Promise<ScriptRun> {
  const env: NodeJS.ProcessEnv = {}
  for (const [key, value] of Object.entries(process.env)) if (!SETTING_KEY.test(key)) env[key] = value
  Object.assign(env, { NO_COLOR: '1', XIPU_ENV_FILE: options.envFile }, options.env)

  const child = spawn(process.execPath, ['--import', 'tsx', join(REPO_ROOT, script), ...(options.args ?? [])], {
    cwd: REPO_ROOT,
    env,
    stdio: ['pipe', 'pipe', 'pipe'],
  })
  let stdout = ''
  let stderr = ''
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk))
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk))
  child.stdin.end(options.input ?? '')
  const timer = setTimeout(() => child.kill(), HANG_LIMIT_MS)
  return new Promise((resolve, reject) => {
    child.on('error', reject)
    child.on('close', (code) => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr, output: stdout + stderr })
    })
  })
}
