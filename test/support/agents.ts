/**
 * The coding agents (Codex CLI, Claude Code) as a user has them installed:
 * found by an environment variable (`XIPU_TEST_CODEX`, `XIPU_TEST_CLAUDE`)
 * or on PATH, run as child processes with a home of their own in a
 * temporary folder, so that nothing of the user's (config, sessions, keys)
 * is read or written. They are not dependencies of ours: each installs a
 * native binary of several hundred MB.
 */
import { spawn, spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { delimiter, isAbsolute, join } from 'node:path'

// A safety net for a hung agent, not an assertion on speed.
const AGENT_KILL_MS = 240_000

export interface FoundAgent {
  path: string
  /** What `--version` prints, for the test's diagnostics. */
  version: string
}

function _onPath(name: string): string | undefined {
  // Only real executables: an npm .cmd shim on Windows would need a shell, which would mangle the prompts.
  const names = process.platform === 'win32' ? [`${name}.exe`] : [name]
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    for (const candidate of names) {
      const full = join(dir, candidate)
      if (dir !== '' && existsSync(full) && statSync(full).isFile()) return full
    }
  }
  return undefined
}

/**
 * The agent named by `envKey`, else `name` on PATH; `skip` says why not when
 * neither is there. A path in `envKey` that does not work fails loudly: it was
 * asked for.
 *
 * @example
 * const codex = findAgent('codex', 'XIPU_TEST_CODEX')
 * test('codex', { skip: codex.skip }, ...)
 */
export function findAgent(name: string, envKey: string): { agent?: FoundAgent; skip?: string } {
  const given = process.env[envKey]
  const path = given ? (isAbsolute(given) ? given : _onPath(given) ?? given) : _onPath(name)
  if (!path) return { skip: `${name} is not installed: set ${envKey} to its binary, or put ${name} on PATH (README, "Development")` }
  // Even --version runs with a home of its own: the user's is never touched.
  const home = mkdtempSync(join(tmpdir(), 'xipu-agent-version-'))
  const run = spawnSync(path, ['--version'], { encoding: 'utf8', timeout: 60_000, stdio: ['ignore', 'pipe', 'pipe'], env: createAgentEnv(home, {}) })
  rmSync(home, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 })
  if (run.status !== 0) {
    if (!given) return { skip: `${path} --version failed (${run.error?.message ?? run.stderr.trim()}); set ${envKey} to a working ${name}` }
    throw new Error(`${envKey}=${given}: '${path} --version' failed: ${run.error?.message ?? run.stderr.trim()}`)
  }
  return { agent: { path, version: run.stdout.trim() } }
}

/**
 * The environment an agent runs with: only what a shell needs (PATH and, on
 * Windows, its system variables), a home in `home`, and `extra`. None of the
 * caller's keys, proxies or agent settings get through.
 */
export function createAgentEnv(home: string, extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: home, USERPROFILE: home, LANG: 'C.UTF-8', NO_COLOR: '1' }
  if (process.platform === 'win32') for (const key of ['SystemRoot', 'ComSpec', 'PATHEXT', 'TEMP', 'TMP']) env[key] = process.env[key]
  return { ...env, ...extra }
}

export interface AgentRun {
  code: number | null
  stdout: string
  stderr: string
}

/**
 * Runs an agent to its end with its standard input closed (Codex reads a
 * prompt from stdin while it is open, and would wait for it forever).
 */
export function runAgent(path: string, args: string[], options: { cwd: string; env: NodeJS.ProcessEnv }): Promise<AgentRun> {
  const child = spawn(path, args, { cwd: options.cwd, env: options.env, stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk))
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk))
  const timer = setTimeout(() => child.kill('SIGKILL'), AGENT_KILL_MS)
  return new Promise((resolve, reject) => {
    child.on('error', reject)
    child.on('close', (code) => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr })
    })
  })
}
