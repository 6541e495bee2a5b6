/**
 * The one-command first run: `npx tsx adapter.ts` on a terminal with an
 * empty `.env` asks for the username and password, logs in (each step
 * shown), saves, and serves; driven through a real pseudo-terminal
 * (python3's pty module). Without a terminal nothing is asked: it serves as
 * before and says to run config.ts, then auth.ts.
 */
import assert from 'node:assert/strict'
import { execFileSync, spawn } from 'node:child_process'
import { join } from 'node:path'
import { describe, test } from 'node:test'
import { readEnvFile, updateEnvFile } from '../lib/env-file.ts'
import { findChrome } from '../lib/login/find-chrome.ts'
import { startSimulator } from '../lib/simulator/index.ts'
import { REPO_ROOT, spawnScript } from './support/processes.ts'
import { makeTempDir } from './support/temp-dir.ts'

const DRIVER = join(REPO_ROOT, 'test', 'support', 'drive-pty.py')
const SETTING_KEY = /^(XIPU_|XJTLU_|JM_TOKEN$|SDP_SESSION$|CHROME_PATH$|ADAPTER_API_KEY$|PORT$|HOST$)/

function _hasPython(): boolean {
  try {
    execFileSync('python3', ['-c', 'import pty'], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

/** Runs `spec` through the pty driver; resolves with its exit code and the transcript. */
function _drive(spec: Record<string, unknown>): Promise<{ code: number | null; transcript: string }> {
  const child = spawn('python3', [DRIVER, JSON.stringify(spec)], { stdio: ['ignore', 'pipe', 'pipe'] })
  let transcript = ''
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (transcript += chunk))
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (transcript += chunk))
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, transcript })))
}

function _cleanEnv(extra: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = {}
  for (const [key, value] of Object.entries(process.env)) if (value !== undefined && !SETTING_KEY.test(key)) env[key] = value
  return { ...env, ...extra, TERM: 'xterm-256color' }
}

describe('the first run', { concurrency: true }, () => {
  test('on a terminal with an empty .env: asks, logs in with its progress, saves, then serves', { skip: !_hasPython() && 'python3 with pty is needed' }, async (t) => {
    const sim = await startSimulator({ minGapMs: 100, seedWebChats: [] })
    t.after(() => sim.close())
    const { dir, envFile } = makeTempDir(t)
    // Only where the platform is: nothing usable for a login or a request.
    updateEnvFile(envFile, { XIPU_WEB_BASE: sim.webBase, XIPU_API_BASE: sim.apiBase, XIPU_STATE_DIR: join(dir, 'state'), XIPU_MIN_GAP_MS: '100', PORT: '0', CHROME_PATH: findChrome(process.env.CHROME_PATH) })

    const run = await _drive({
      cmd: [process.execPath, '--import', 'tsx', join(REPO_ROOT, 'adapter.ts')],
      cwd: REPO_ROOT,
      env: _cleanEnv({ XIPU_ENV_FILE: envFile }),
      steps: [
        { expect: 'XJTLU username', send: 'demo\r' },
        { expect: 'XJTLU password', send: 'wrong-password\r' },
        // A mistyped password is asked again.
        { expect: 'Try again', send: '' },
        { expect: 'XJTLU username', send: '\r' },
        { expect: 'XJTLU password', send: 'demo-password\r' },
      ],
      until: 'OpenAI base URL:\\s+http://127\\.0\\.0\\.1:\\d+/v1',
      timeout: 90,
    })
    const plain = run.transcript.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '')
    assert.equal(run.code, 0, plain)
    assert.match(plain, /First run: nothing usable/)
    assert.match(plain, /step 1\/4 Opening/)
    assert.match(plain, /step 4\/4/)
    assert.match(plain, /Logged in; saved to/)
    assert.match(plain, /Token:\s+valid for/)
    assert.ok(!plain.includes('demo-password'), 'the password is never shown')
    const saved = readEnvFile(envFile)
    assert.equal(saved.XJTLU_USERNAME, 'demo')
    assert.equal(saved.XJTLU_PASSWORD, 'demo-password')
    assert.match(saved.JM_TOKEN ?? '', /^eyJ/)
    assert.equal(saved.XIPU_WEB_BASE, sim.webBase, 'every other line kept')
  })

  test('without a terminal nothing is asked: it serves and says to run config.ts, then auth.ts', async (t) => {
    const sim = await startSimulator({ minGapMs: 100, seedWebChats: [] })
    t.after(() => sim.close())
    const { dir, envFile } = makeTempDir(t)
    updateEnvFile(envFile, { XIPU_WEB_BASE: sim.webBase, XIPU_API_BASE: sim.apiBase, XIPU_STATE_DIR: join(dir, 'state'), PORT: '0' })
    const adapter = spawnScript(t, 'adapter.ts', { envFile, killAfterMs: 60_000 })
    await adapter.waitForOutput(/OpenAI base URL/)
    assert.match(adapter.output(), /npx tsx config\.ts, then npx tsx auth\.ts/)
    assert.doesNotMatch(adapter.output(), /XJTLU username|First run/)
    // The banner may print a moment before the adapter listens for Ctrl-C.
    await new Promise((resolve) => setTimeout(resolve, 1500))
    adapter.child.kill('SIGINT')
    assert.equal(await adapter.exited, 0)
    assert.equal(readEnvFile(envFile).XJTLU_USERNAME, undefined)
  })
})
