/**
 * The doctor (`adapter.ts --check`) against the simulator: all green on a
 * healthy platform, and each way the platform can differ from what the
 * adapter needs gives its own ✘ line, its advice and exit 1. It leaves no
 * session behind, and its JSON holds no secret and no personal data.
 */
import assert from 'node:assert/strict'
import { chmodSync, existsSync } from 'node:fs'
import { join } from 'node:path'
import { describe, test, type TestContext } from 'node:test'
import { runDoctor, type CheckLine, type DoctorReport } from '../lib/doctor/index.ts'
import { readEnvFile, updateEnvFile } from '../lib/env-file.ts'
import { findChrome } from '../lib/login/find-chrome.ts'
import { setLogLevel } from '../lib/log.ts'
import { loadSettings } from '../lib/settings.ts'
import { startSimulator, type RunningSimulator, type SimulatorOptions } from '../lib/simulator/index.ts'
import { WEB_CHATS } from './support/platform.ts'
import { runScript } from './support/processes.ts'
import { makeTempDir } from './support/temp-dir.ts'

const GAP_MS = 60

interface Setup {
  sim: RunningSimulator
  envFile: string
  creds: ReturnType<RunningSimulator['issueCredentials']>
  doctor(): Promise<DoctorReport>
}

async function _setup(t: TestContext, simulator: SimulatorOptions = {}): Promise<Setup> {
  setLogLevel(0)
  const sim = await startSimulator({ minGapMs: GAP_MS, seedWebChats: WEB_CHATS, ...simulator })
  t.after(() => sim.close())
  const { dir, envFile } = makeTempDir(t)
  const creds = sim.issueCredentials()
  updateEnvFile(envFile, {
    XIPU_API_BASE: sim.apiBase,
    XIPU_WEB_BASE: sim.webBase,
    JM_TOKEN: creds.jmToken,
    SDP_SESSION: creds.sdpSession,
    XJTLU_USERNAME: 'demo',
    XJTLU_PASSWORD: 'demo-password',
    XIPU_MIN_GAP_MS: String(GAP_MS),
    XIPU_STATE_DIR: join(dir, 'state'),
  })
  return { sim, envFile, creds, doctor: () => runDoctor({ settings: () => loadSettings({ envFile, env: {} }) }) }
}

function _line(report: DoctorReport, id: string): CheckLine {
  const line = report.checks.find((c) => c.id === id)
  assert.ok(line, `no "${id}" line in ${JSON.stringify(report.checks.map((c) => c.id))}`)
  return line
}

function _assertNothingLeft(sim: RunningSimulator): void {
  const names = [...sim.state.sessions.values()].map((s) => s.name)
  assert.deepEqual(names.sort(), [...WEB_CHATS].sort(), 'only the user\'s own web chats remain')
  assert.equal(sim.state.streamsOpen, 0)
}

describe('the doctor', { concurrency: 2 }, () => {
  test('on a healthy platform every check is green, in about ten paced calls, and nothing is left behind', async (t) => {
    const { sim, doctor } = await _setup(t)
    const report = await doctor()
    const notGreen = report.checks.filter((c) => c.status !== 'ok' && c.status !== 'skip')
    assert.deepEqual(notGreen, [], 'no failed or doubtful line')
    assert.equal(report.exitCode, 0)
    for (const id of ['env', 'credentials', 'token', 'api', 'catalog', 'session', 'completion', 'history', 'upload', 'vision', 'delete', 'rate']) assert.equal(_line(report, id).status, 'ok', id)
    // The simulated models describe the file they got, not its colour: the doctor takes the uploaded PNG's size or hash as seen.
    assert.match(_line(report, 'upload').seen, /-byte PNG uploaded; its URL is on 127\.0\.0\.1:\d+/)
    assert.match(_line(report, 'vision').seen, /received the uploaded PNG: it named its size or hash/)
    const upload = [...sim.state.uploads.values()][0]
    assert.equal(upload?.type, 'image/png')
    assert.deepEqual(Buffer.from(upload!.bytes).subarray(0, 8), Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))
    assert.equal(_line(report, 'login').status, 'skip', 'the browser login only with --login')
    assert.match(_line(report, 'catalog').seen, /^21 models, 11 multimodal: gpt-5\.6-luna/)
    assert.match(_line(report, 'session').seen, /contextCount 0: reply says 0, list says 0/)
    assert.match(_line(report, 'completion').seen, /type:string pieces.*the type:object result \(aiText \d+ chars.*\[DONE\]/)
    assert.match(_line(report, 'history').seen, /reusing sessions is safe/)
    assert.match(_line(report, 'rate').seen, /no 429/)
    // Gently: a handful of calls, all through the pacer, none refused.
    assert.ok(sim.state.calls.length <= 12, `${sim.state.calls.length} platform calls`)
    assert.equal(sim.state.rateLimited, 0)
    _assertNothingLeft(sim)
  })

  test('a revoked token: the API line fails with the advice to log in again, and nothing more is tried', async (t) => {
    const { sim, doctor } = await _setup(t)
    sim.state.tokens.revokeAll()
    const report = await doctor()
    const api = _line(report, 'api')
    assert.equal(api.status, 'fail')
    assert.match(api.seen, /refused the token \(HTTP 403\)/)
    assert.match(api.advice ?? '', /npx tsx auth\.ts/)
    assert.equal(_line(report, 'session').status, 'skip')
    assert.equal(report.exitCode, 1)
    assert.equal(sim.state.calls.length, 1, 'one call, refused: nothing else is tried with a dead token')
  })

  test('a catalog in an unexpected shape is its own failed line', async (t) => {
    // The same models, keyed by id instead of listed.
    const { sim, doctor } = await _setup(t, { catalog: { 'gpt-4.1': { label: 'GPT-4.1', multimodal: true }, 'o3': { label: 'o3' } } })
    const report = await doctor()
    const catalog = _line(report, 'catalog')
    assert.equal(catalog.status, 'fail')
    assert.match(catalog.seen, /data\.models is an object, not an array/)
    assert.match(catalog.advice ?? '', /built-in model list/)
    assert.equal(_line(report, 'api').status, 'ok', 'the API itself answered')
    assert.equal(report.exitCode, 1)
    _assertNothingLeft(sim)
  })

  test('an upload the platform refuses is a doubtful upload line, not a failure: text still works', async (t) => {
    const { sim, doctor } = await _setup(t)
    sim.state.injectFault('upload', { kind: 'status', status: 200, body: { code: 1, msg: 'Upload is closed', data: null } })
    const report = await doctor()
    const upload = _line(report, 'upload')
    assert.equal(upload.status, 'warn')
    assert.match(upload.seen, /uploading a \d+-byte PNG failed: The platform refused upload: Upload is closed/)
    assert.equal(report.checks.find((c) => c.id === 'vision'), undefined, 'no image to show a model')
    assert.equal(report.exitCode, 0)
    _assertNothingLeft(sim)
  })

  test('a completion stream without the result event fails the completion line', async (t) => {
    const { sim, doctor } = await _setup(t, { streamEnding: { result: false } })
    const report = await doctor()
    const completion = _line(report, 'completion')
    assert.equal(completion.status, 'fail')
    assert.match(completion.seen, /NO type:object result event, \[DONE\]/)
    assert.equal(report.exitCode, 1)
    _assertNothingLeft(sim)
  })

  test('a session whose contextCount does not take fails the session line; one that takes it only on update is a warning', async (t) => {
    await t.test('never', async (t) => {
      const { sim, doctor } = await _setup(t, { contextCount: 'never' })
      const report = await doctor()
      const session = _line(report, 'session')
      assert.equal(session.status, 'fail')
      assert.match(session.seen, /reply says 4, list says 4.*an update did not take it either/)
      assert.match(session.advice ?? '', /XIPU_SESSION_REUSE=0/)
      // The platform fed the first turn back: the second knew the code, and reuse is called unsafe.
      const history = _line(report, 'history')
      assert.equal(history.status, 'fail')
      assert.match(history.seen, /NOT safe/)
      assert.match(history.advice ?? '', /XIPU_SESSION_REUSE=0/)
      assert.equal(report.exitCode, 1)
      _assertNothingLeft(sim)
    })
    await t.test('update-only', async (t) => {
      const { sim, doctor } = await _setup(t, { contextCount: 'update-only' })
      const report = await doctor()
      assert.equal(_line(report, 'session').status, 'warn')
      assert.match(_line(report, 'session').seen, /took only on an update/)
      assert.equal(_line(report, 'history').status, 'ok', 'once updated, the session feeds no history')
      assert.equal(report.exitCode, 0)
      _assertNothingLeft(sim)
    })
  })

  test('adapter.ts --check: the report and exit code as a user sees them; --json holds no secret and no personal data', async (t) => {
    const { sim, envFile, creds } = await _setup(t)
    // A readable .env is worth a warning, not a failure.
    chmodSync(envFile, 0o644)
    const text = await runScript('adapter.ts', { envFile, args: ['--check'] })
    assert.equal(text.code, 0, text.output)
    assert.match(text.stdout, /✔ API base/)
    assert.match(text.stdout, /! \.env\s+.*mode 644: others on this machine can read it\n\s+→ It holds your password and tokens: chmod 600/)
    assert.match(text.stdout, /All well: \d+ checks passed, \d+ worth a look/)

    const json = await runScript('adapter.ts', { envFile, args: ['--check', '--json'] })
    assert.equal(json.code, 0, json.output)
    const report = JSON.parse(json.stdout) as DoctorReport
    assert.equal(report.exitCode, 0)
    for (const secret of [creds.jmToken, creds.sdpSession, 'demo-password', creds.jmToken.split('.')[1]!]) assert.ok(!json.output.includes(secret), 'no secret in the JSON')
    assert.doesNotMatch(json.stdout, /"demo"|demo@student|Simulated demo/, 'no username, email or name')
    for (const session of sim.state.calls.filter((c) => c.endpoint === 'completions')) {
      assert.ok(!json.stdout.includes(String((session.body as { sessionId: string }).sessionId)), 'session ids masked')
    }
    _assertNothingLeft(sim)

    sim.state.tokens.revokeAll()
    const revoked = await runScript('adapter.ts', { envFile, args: ['--check'] })
    assert.equal(revoked.code, 1)
    assert.match(revoked.stdout, /✘ API base .*refused the token.*\n\s+→ Run npx tsx auth\.ts to log in again\./)
  })

  test('adapter.ts --check --simulate: a healthy report against the built-in simulator, and the user\'s own .env untouched', async (t) => {
    const { envFile } = makeTempDir(t)
    const run = await runScript('adapter.ts', { envFile, args: ['--check', '--simulate'] })
    assert.equal(run.code, 0, run.output)
    for (const line of ['.env', 'token', 'API base', 'catalog', 'session', 'completion', 'history', 'upload', 'vision', 'delete', 'rate limit']) {
      assert.match(run.stdout, new RegExp(`✔ ${line.replace('.', '\\.')}\\s`), `a green ${line} line`)
    }
    assert.match(run.stdout, /All well: \d+ checks passed/)
    assert.ok(!existsSync(envFile), 'the user\'s .env is neither read nor written')
  })

  test('--login: the whole browser login is tried step by step; a page that changed names its step and selector', async (t) => {
    await t.test('healthy', async (t) => {
      const { sim, envFile } = await _setup(t)
      updateEnvFile(envFile, { CHROME_PATH: findChrome(process.env.CHROME_PATH) })
      const report = await runDoctor({ settings: () => loadSettings({ envFile, env: {} }), login: true })
      const login = _line(report, 'login')
      assert.equal(login.status, 'ok', login.seen)
      assert.match(login.seen, /all 4 steps passed/)
      assert.equal(report.exitCode, 0)
      _assertNothingLeft(sim)
    })
    await t.test('a chat page without its button', async (t) => {
      const { envFile } = await _setup(t, { breakLoginStep: 'chat-button' })
      updateEnvFile(envFile, { CHROME_PATH: findChrome(process.env.CHROME_PATH), XIPU_LOGIN_STEP_TIMEOUT_MS: '5s' })
      const before = readEnvFile(envFile).JM_TOKEN
      const report = await runDoctor({ settings: () => loadSettings({ envFile, env: {} }), login: true })
      const login = _line(report, 'login')
      assert.equal(login.status, 'fail')
      assert.match(login.seen, /step 3\/4.*button:has\(span\.n-button__content\)/)
      assert.match(login.advice ?? '', /XIPU_SELECTORS/)
      assert.equal(report.exitCode, 1)
      assert.equal(readEnvFile(envFile).JM_TOKEN, before, '.env untouched by a failed login')
    })
  })
})
