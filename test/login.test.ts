/**
 * The browser login, end to end: real Chromium (CHROME_PATH, else the one
 * installed) logging into the simulator's SSO pages, through auth.ts as a
 * user runs it and through lib/login/browser.ts as the keepalive calls it.
 */
import assert from 'node:assert/strict'
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { loginWithBrowser } from '../lib/login/browser.ts'
import { saveLoginResult } from '../lib/login/result.ts'
import { readEnvFile } from '../lib/env-file.ts'
import { isXipuError } from '../lib/errors.ts'
import { findChrome } from '../lib/login/find-chrome.ts'
import { decodeJwt } from '../lib/jwt.ts'
import { resolveLoginSelectors } from '../lib/login/selectors.ts'
import { startSimulator, type RunningSimulator, type SimulatorOptions } from '../lib/simulator/index.ts'
import { runScript } from './support/processes.ts'
import { makeTempDir } from './support/temp-dir.ts'

const PASSWORD = 'demo-password'
// Short, so that the cases where a step never comes end quickly; only those set it, since
// on a busy machine an element that does come can take longer (page loads wait 30 s anyway).
const STEP_TIMEOUT_MS = 5000
let chromePath: string
const simulators: RunningSimulator[] = []

before(() => {
  chromePath = findChrome(process.env.CHROME_PATH)
})

after(async () => {
  await Promise.all(simulators.map((sim) => sim.close()))
})

async function startSim(options: SimulatorOptions = {}): Promise<RunningSimulator> {
  const sim = await startSimulator({ users: { demo: PASSWORD }, ...options })
  simulators.push(sim)
  return sim
}

/** A .env as config.ts leaves it, plus lines of the user's own that must survive. */
function writeUserEnv(envFile: string, webBase: string, options: { password?: string; chrome?: string; extra?: Record<string, string> } = {}): string {
  const lines = ['# my adapter settings', 'PORT=9876', '', `XIPU_WEB_BASE=${webBase}`, `CHROME_PATH=${options.chrome ?? chromePath}`]
  lines.push('XJTLU_USERNAME=demo', `XJTLU_PASSWORD=${options.password ?? PASSWORD}`)
  for (const [key, value] of Object.entries(options.extra ?? {})) lines.push(`${key}=${value}`)
  const text = `${lines.join('\n')}\n`
  writeFileSync(envFile, text)
  return text
}

function screenshotIn(output: string): string {
  const path = /Screenshot saved: (.+\.png)/.exec(output)?.[1]
  assert.ok(path, `a screenshot path is printed:\n${output}`)
  assert.ok(existsSync(path), `the screenshot exists: ${path}`)
  assert.deepEqual([...readFileSync(path).subarray(1, 4)], [...Buffer.from('PNG')], 'it is a PNG')
  return path
}

describe('the browser login', { concurrency: 2 }, () => {
  test('auth.ts logs in and saves the captured credentials, keeping the rest of .env', async (t) => {
    const sim = await startSim({ loginStepDelayMs: 100 })
    const { envFile } = makeTempDir(t)
    const before = writeUserEnv(envFile, sim.webBase)
    const run = await runScript('auth.ts', { envFile })
    assert.equal(run.code, 0, run.output)

    const saved = readEnvFile(envFile)
    const check = sim.state.tokens.check(saved.JM_TOKEN, saved.SDP_SESSION)
    assert.deepEqual(check, { ok: true, username: 'demo' }, 'the saved pair is one the simulator issued to demo')
    assert.equal(saved.XIPU_COOKIE, `sdp_app_session=${saved.SDP_SESSION}`)
    assert.equal(saved.XIPU_API_BASE, sim.apiBase)
    const call = sim.state.calls.find((c) => c.endpoint === 'session')
    assert.equal(call?.headers['jm-token'], saved.JM_TOKEN, 'the token is the one the chat page sent')
    assert.ok(readFileSync(envFile, 'utf8').startsWith(before), 'every earlier line is kept as it was')
    if (process.platform !== 'win32') assert.equal(statSync(envFile).mode & 0o777, 0o600)

    for (const step of [1, 2, 3, 4]) assert.match(run.output, new RegExp(`step ${step}/4`))
    assert.match(run.output, /valid for \dh \d\dm/)
    for (const secret of [PASSWORD, saved.JM_TOKEN!, saved.SDP_SESSION!]) {
      assert.ok(!run.output.includes(secret), 'no secret is printed in full')
    }
  })

  test('a wrong password fails with the SSO page message and leaves .env untouched', async (t) => {
    const sim = await startSim()
    const { envFile } = makeTempDir(t)
    const wrong = 'not-the-password'
    const before = writeUserEnv(envFile, sim.webBase, { password: wrong, extra: { JM_TOKEN: 'previous-token-value' } })
    const run = await runScript('auth.ts', { envFile })
    assert.notEqual(run.code, 0)
    assert.match(run.output, /rejected the login: "Invalid username or password/)
    screenshotIn(run.output)
    assert.equal(readFileSync(envFile, 'utf8'), before)
    assert.ok(!run.output.includes(wrong), 'the password is not printed')
  })

  test('a step that never appears times out, names the step and saves a screenshot', async (t) => {
    const sim = await startSim({ breakLoginStep: 'chat-button' })
    const { envFile } = makeTempDir(t)
    const before = writeUserEnv(envFile, sim.webBase, { extra: { XIPU_LOGIN_STEP_TIMEOUT_MS: String(STEP_TIMEOUT_MS) } })
    const run = await runScript('auth.ts', { envFile })
    assert.notEqual(run.code, 0)
    assert.match(run.output, /Login step 3\/4 \(Opening the chat page\) failed/)
    assert.match(run.output, /button:has\(span\.n-button__content\)/)
    screenshotIn(run.output)
    assert.equal(readFileSync(envFile, 'utf8'), before)
  })

  test('an unreachable web app is reported as a network error, .env untouched', async (t) => {
    const { envFile } = makeTempDir(t)
    const before = writeUserEnv(envFile, `http://127.0.0.1:${await findClosedPort()}`)
    const run = await runScript('auth.ts', { envFile })
    assert.notEqual(run.code, 0)
    assert.match(run.output, /could not be loaded \(net::ERR_CONNECTION_REFUSED\)/)
    screenshotIn(run.output)
    assert.equal(readFileSync(envFile, 'utf8'), before)
  })

  test('no browser at CHROME_PATH: says how to set it, .env untouched', async (t) => {
    const { dir, envFile } = makeTempDir(t)
    const before = writeUserEnv(envFile, 'http://127.0.0.1:9', { chrome: join(dir, 'no-such-chrome') })
    const run = await runScript('auth.ts', { envFile })
    assert.notEqual(run.code, 0)
    assert.match(run.output, /CHROME_PATH=.*no-such-chrome is not a browser executable/)
    assert.match(run.output, /add the path of its executable to \.env/)
    assert.equal(readFileSync(envFile, 'utf8'), before)
  })

  test('without saved credentials auth.ts says to run config.ts', async (t) => {
    const { envFile } = makeTempDir(t)
    writeFileSync(envFile, 'PORT=9876\n')
    const run = await runScript('auth.ts', { envFile })
    assert.notEqual(run.code, 0)
    assert.match(run.output, /npx tsx config\.ts/)
    assert.equal(readFileSync(envFile, 'utf8'), 'PORT=9876\n')
  })

  test('loginWithBrowser waits for slow steps and reads the API base the page calls', async () => {
    // The 2025 layout: the API under /api/chat rather than /jmapi/api/chat.
    const sim = await startSim({ apiPath: '/api/chat', loginStepDelayMs: 400 })
    const progress: number[] = []
    const result = await loginWithBrowser({
      webBase: sim.webBase,
      username: 'demo',
      password: PASSWORD,
      chromePath,
      onProgress: (p) => progress.push(p.step),
    })
    assert.equal(result.source, 'request')
    assert.equal(result.apiBase, `${sim.webBase}/api/chat`)
    assert.equal(sim.state.tokens.check(result.jmToken, result.sdpSession).ok, true)
    assert.equal(result.expiresAt?.getTime(), (decodeJwt(result.jmToken).payload.exp as number) * 1000)
    assert.deepEqual(progress, [1, 2, 3, 4])
  })

  test('without an API request it falls back to the JWT in localStorage; saving drops the stale session', async (t) => {
    const sim = await startSim({ breakLoginStep: 'api-call' })
    const result = await loginWithBrowser({ webBase: sim.webBase, username: 'demo', password: PASSWORD, chromePath, stepTimeoutMs: STEP_TIMEOUT_MS })
    assert.equal(result.source, 'localStorage')
    assert.equal(decodeJwt(result.jmToken).payload.sub, 'demo')
    assert.equal(result.sdpSession, undefined)
    assert.match(result.cookie ?? '', /^sdp_app_session=sdp-/)

    const { envFile } = makeTempDir(t)
    writeFileSync(envFile, 'A=1\nJM_TOKEN=old\nSDP_SESSION=stale\nXIPU_API_BASE=https://example.test/api/chat\n')
    saveLoginResult(envFile, result)
    assert.deepEqual(readEnvFile(envFile), {
      A: '1',
      JM_TOKEN: result.jmToken,
      XIPU_API_BASE: 'https://example.test/api/chat',
      XIPU_COOKIE: result.cookie,
    })
  })

  test('selectors can be overridden, and a misspelt key is refused', async () => {
    assert.equal(resolveLoginSelectors({ chatButton: 'button.start' }).chatButton, 'button.start')
    assert.equal(resolveLoginSelectors({}).username, '#username_show')
    assert.throws(() => resolveLoginSelectors({ chatButon: 'x' }), (error) => isXipuError(error, 'E_CONFIG') && /chatButon/.test(error.message))
  })

  /** A port nothing listens on: bound by us, then released. */
  async function findClosedPort(): Promise<number> {
    const server = createServer()
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const { port } = server.address() as { port: number }
    await new Promise<void>((resolve) => server.close(() => resolve()))
    return port
  }
})
