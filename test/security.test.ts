/**
 * Security: loopback by default, the API key on every /v1 route, a
 * non-loopback HOST refused without a key, CORS off by default and limited to
 * an allowlist, and secrets (password, JWT, session header, cookies, API key)
 * never in a log file, an error message or the console, even when requests
 * fail; prompts and answers only when XIPU_LOG_PROMPTS=1.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { spawn } from 'node:child_process'
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { describe, test } from 'node:test'
import OpenAI, { APIError } from 'openai'
import { startStack } from './support/harness.ts'
import { WEB_CHATS } from './support/platform.ts'
import { REPO_ROOT, spawnAdapter, startSimulatorForProcess, waitForHealth } from './support/processes.ts'
import { makeTempDir } from './support/temp-dir.ts'
import { waitFor } from './support/wait-for.ts'

const API_KEY = `sk-test-${randomBytes(24).toString('hex')}`

type ErrorBody = { error: { message: string; type: string; param: string | null; code: string | null } }

describe('security', { concurrency: true }, () => {
  describe('the API key', () => {
    test('binds to 127.0.0.1 by default', async (t) => {
      const stack = await startStack({ stopAfter: t, readySession: true })
      assert.equal(stack.adapter.settings().host, '127.0.0.1')
      assert.match(stack.adapter.url, /^http:\/\/127\.0\.0\.1:\d+$/)
    })

    test('every /v1 route needs "Authorization: Bearer <key>"; 401 otherwise, before anything else', async (t) => {
      const stack = await startStack({ stopAfter: t, readySession: true, overrides: { ADAPTER_API_KEY: API_KEY } })
      const url = stack.adapter.url
      const chat = JSON.stringify({ model: 'gpt-4.1', messages: [{ role: 'user', content: 'hi' }] })
      const attempts: Array<[string, string, Record<string, string>, string?]> = [
        ['GET', '/v1/models', {}],
        ['GET', '/v1/models/gpt-4.1', {}],
        ['POST', '/v1/chat/completions', { 'content-type': 'application/json' }, chat],
        ['POST', '/chat/completions', { 'content-type': 'application/json' }, chat],
        ['GET', '/models', {}],
        ['POST', '/v1/chat/completions', { authorization: 'Bearer wrong-key' }, chat],
        ['POST', '/v1/chat/completions', { authorization: `Bearer ${API_KEY.slice(0, -1)}` }, chat],
        ['POST', '/v1/chat/completions', { authorization: `Bearer ${API_KEY}x` }, chat],
        ['POST', '/v1/chat/completions', { authorization: `Basic ${Buffer.from(`user:${API_KEY}`).toString('base64')}` }, chat],
        ['POST', '/v1/chat/completions', { authorization: API_KEY }, chat],
        ['POST', '/v1/chat/completions', { authorization: 'Bearer ' }, chat],
        // Bad input and unknown routes are refused for the key first: nothing about the API leaks.
        ['POST', '/v1/chat/completions', { 'content-type': 'application/json' }, '{not json'],
        ['GET', '/v1/no-such-route', {}],
      ]
      for (const [method, path, headers, body] of attempts) {
        const response = await fetch(`${url}${path}`, { method, headers, body })
        const text = await response.text()
        assert.equal(response.status, 401, `${method} ${path} ${JSON.stringify(headers)}: ${text}`)
        const parsed = JSON.parse(text) as ErrorBody
        assert.equal(parsed.error.type, 'invalid_request_error')
        assert.equal(parsed.error.code, 'invalid_api_key')
        assert.match(parsed.error.message, /Authorization: Bearer/)
        assert.ok(!text.includes(API_KEY), 'the error echoed the key')
      }
      assert.deepEqual(stack.calls(), [], 'an unauthorised request reached the platform')

      // With the key: the official SDK works, and /health stays open for monitors (without secrets).
      const openai = new OpenAI({ baseURL: stack.adapter.baseURL, apiKey: API_KEY, maxRetries: 0 })
      const reply = await openai.chat.completions.create({ model: 'gpt-4.1', messages: [{ role: 'user', content: 'with the key' }] })
      assert.match(reply.choices[0]?.message.content ?? '', /with the key/)
      const wrong = new OpenAI({ baseURL: stack.adapter.baseURL, apiKey: 'not-the-key', maxRetries: 0 })
      await assert.rejects(wrong.models.list(), (error: APIError) => error.status === 401)
      const health = await fetch(`${url}/health`)
      assert.equal(health.status, 200)
      const healthText = await health.text()
      for (const secret of [API_KEY, stack.adapter.settings().jmToken!, stack.adapter.settings().sdpSession!]) assert.ok(!healthText.includes(secret))
    })
  })

  describe('a non-loopback HOST', () => {
    test('without ADAPTER_API_KEY: the adapter refuses to start and says why', async (t) => {
      const { dir, env } = await startSimulatorForProcess(t, { minGapMs: 100 })
      const proc = await spawnAdapter(t, { ...env, HOST: '0.0.0.0' }, dir)
      assert.equal(await proc.exited, 1, proc.output())
      assert.match(proc.output(), /HOST=0\.0\.0\.0 would let other machines use your XJTLU account/)
      assert.match(proc.output(), /ADAPTER_API_KEY/)
      assert.doesNotMatch(proc.output(), /\n\s+at .+:\d+:\d+/, 'a stack trace was printed')
      assert.ok(!proc.output().includes(env.JM_TOKEN))
    })

    test('with ADAPTER_API_KEY: it starts, and still wants the key', async (t) => {
      const { dir, env } = await startSimulatorForProcess(t, { minGapMs: 100 })
      const proc = await spawnAdapter(t, { ...env, HOST: '0.0.0.0', ADAPTER_API_KEY: API_KEY }, dir)
      await waitForHealth(proc)
      assert.equal((await fetch(`${proc.url}/v1/models`)).status, 401)
      assert.equal((await fetch(`${proc.url}/v1/models`, { headers: { authorization: `Bearer ${API_KEY}` } })).status, 200)
      proc.child.kill('SIGTERM')
      assert.equal(await proc.exited, 0)
      assert.ok(!proc.output().includes(API_KEY))
    })

    test('XIPU_CORS_ORIGINS=* without a key is refused too', async (t) => {
      const { dir, env } = await startSimulatorForProcess(t, { minGapMs: 100 })
      const proc = await spawnAdapter(t, { ...env, XIPU_CORS_ORIGINS: '*' }, dir)
      assert.equal(await proc.exited, 1, proc.output())
      assert.match(proc.output(), /XIPU_CORS_ORIGINS=\* would let any web page/)
    })
  })

  describe('CORS', () => {
    const SDK_HEADERS = 'authorization, content-type, x-stainless-os, x-stainless-lang, x-stainless-retry-count'

    function preflight(url: string, origin: string): Promise<Response> {
      return fetch(`${url}/v1/chat/completions`, {
        method: 'OPTIONS',
        headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': SDK_HEADERS },
      })
    }

    test('off by default: no page of another origin may call the adapter', async (t) => {
      const stack = await startStack({ stopAfter: t, readySession: true })
      const pre = await preflight(stack.adapter.url, 'https://evil.example')
      assert.equal(pre.headers.get('access-control-allow-origin'), null)
      const get = await fetch(`${stack.adapter.baseURL}/models`, { headers: { origin: 'https://evil.example' } })
      assert.equal(get.headers.get('access-control-allow-origin'), null)
    })

    test('an allowlist: listed origins pass preflight with the SDK headers, others get nothing', async (t) => {
      const stack = await startStack({ stopAfter: t, readySession: true, overrides: { XIPU_CORS_ORIGINS: 'http://localhost:3000, https://chat.example' } })
      const pre = await preflight(stack.adapter.url, 'http://localhost:3000')
      assert.equal(pre.status, 204)
      assert.equal(pre.headers.get('access-control-allow-origin'), 'http://localhost:3000')
      assert.match(pre.headers.get('access-control-allow-methods') ?? '', /POST/)
      const allowed = (pre.headers.get('access-control-allow-headers') ?? '').toLowerCase().split(/\s*,\s*/)
      for (const header of SDK_HEADERS.split(', ')) assert.ok(allowed.includes(header), `preflight does not allow ${header}: ${allowed.join(',')}`)

      const get = await fetch(`${stack.adapter.baseURL}/models`, { headers: { origin: 'https://chat.example' } })
      assert.equal(get.status, 200)
      assert.equal(get.headers.get('access-control-allow-origin'), 'https://chat.example')

      // Answers and errors alike: a browser must be able to read both.
      for (const [body, status] of [
        [{ model: 'gpt-4.1', messages: [{ role: 'user', content: 'from a page' }] }, 200],
        [{ model: 'gpt-4.1', stream: true, messages: [{ role: 'user', content: 'streamed to a page' }] }, 200],
        [{ model: 'gpt-4.1', messages: [] }, 400],
      ] as const) {
        const response = await fetch(`${stack.adapter.baseURL}/chat/completions`, { method: 'POST', headers: { origin: 'http://localhost:3000', 'content-type': 'application/json' }, body: JSON.stringify(body) })
        await response.text()
        assert.equal(response.status, status)
        assert.equal(response.headers.get('access-control-allow-origin'), 'http://localhost:3000', `no CORS header on a ${status} (${JSON.stringify(body)})`)
      }

      const evil = await preflight(stack.adapter.url, 'https://evil.example')
      assert.equal(evil.headers.get('access-control-allow-origin'), null)
      const evilGet = await fetch(`${stack.adapter.baseURL}/models`, { headers: { origin: 'https://evil.example' } })
      assert.equal(evilGet.headers.get('access-control-allow-origin'), null)
    })

    test('any origin only with a key: preflight passes, the request itself still needs the key', async (t) => {
      const stack = await startStack({ stopAfter: t, readySession: true, overrides: { XIPU_CORS_ORIGINS: '*', ADAPTER_API_KEY: API_KEY } })
      const pre = await preflight(stack.adapter.url, 'https://any.example')
      assert.equal(pre.status, 204)
      assert.equal(pre.headers.get('access-control-allow-origin'), '*')
      const without = await fetch(`${stack.adapter.baseURL}/models`, { headers: { origin: 'https://any.example' } })
      assert.equal(without.status, 401)
      assert.equal(without.headers.get('access-control-allow-origin'), '*', 'the browser could not even read the 401')
    })
  })

  describe('secrets never appear; prompts only on opt-in', () => {
    test('logs rotate, and a rotated line is as redacted as any', async (t) => {
      const { dir } = makeTempDir(t)
      const file = join(dir, 'adapter.log')
      const secret = `rotate-secret-${randomBytes(16).toString('hex')}`
      // In a child process: six MiB of log lines on the console stay out of the test's own output.
      const script = `
      import { createLogger, setLogFile } from ${JSON.stringify(pathToFileURL(join(REPO_ROOT, 'lib/log.ts')).href)}
      import { registerSecret } from ${JSON.stringify(pathToFileURL(join(REPO_ROOT, 'lib/redact.ts')).href)}
      registerSecret(process.env.ROTATE_SECRET)
      setLogFile(process.env.ROTATE_FILE)
      const log = createLogger('rotate-test')
      for (let i = 0; i < 600; i++) log.info('line ' + i + ' token ' + process.env.ROTATE_SECRET + ' ' + 'x'.repeat(10000))
    `
      // Not execFileSync: that would stop this process, and the tests running beside this one, for seconds.
      const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
        cwd: REPO_ROOT,
        // NODE_ENV=test: consola's plain console reporter. Its fancy one measures the width of
        // every 10 kB line (some 15 s of CPU here), and this test reads the file, not the console.
        env: { ...process.env, ROTATE_SECRET: secret, ROTATE_FILE: file, XIPU_LOG_LEVEL: '3', NODE_ENV: 'test' },
        stdio: 'ignore',
      })
      assert.equal(await new Promise((resolve) => child.on('close', resolve)), 0, 'the logging child failed')
      assert.ok(existsSync(`${file}.1`), 'the log did not rotate')
      assert.ok(statSync(file).size <= 5 * 1024 * 1024 + 11_000)
      const all = readdirSync(dir).map((name) => readFileSync(join(dir, name), 'utf8')).join('')
      assert.match(all, /line 599 token rota…/)
      assert.ok(!all.includes(secret), 'a log file holds the secret')
    })

    test('a spawned adapter, through successes and failures, never writes a secret or a prompt', { timeout: 120_000 }, async (t) => {
      const SIM_PASSWORD = `right-${randomBytes(12).toString('hex')}`
      const WRONG_PASSWORD = `wrong-${randomBytes(12).toString('hex')}`
      const { sim, dir, creds, env: simEnv } = await startSimulatorForProcess(t, { minGapMs: 100, seedWebChats: WEB_CHATS, users: { demo: SIM_PASSWORD } })
      const otherCookie = `gw_sticky=${randomBytes(16).toString('hex')}`
      const cookie = `${creds.cookie}; ${otherCookie}`
      const logFile = join(dir, 'logs', 'adapter.log')
      const marker = `PROMPT-MARKER-${randomBytes(8).toString('hex')}`

      const env: Record<string, string> = {
        ...simEnv,
        XIPU_COOKIE: cookie,
        XJTLU_USERNAME: 'demo',
        // Wrong on purpose: the 403 at the end makes the adapter try a login with it.
        XJTLU_PASSWORD: WRONG_PASSWORD,
        ADAPTER_API_KEY: API_KEY,
        XIPU_MIN_GAP_MS: '100',
        XIPU_MAX_RETRIES: '1',
        XIPU_IDLE_TIMEOUT_MS: '1500', // short for the stall below, long enough for a loaded machine's live streams
        XIPU_LOGIN_STEP_TIMEOUT_MS: '10000',
        XIPU_LOG_FILE: logFile,
        XIPU_LOG_LEVEL: '5', // everything, debug and trace included
      }
      if (process.env.CHROME_PATH) env.CHROME_PATH = process.env.CHROME_PATH
      const proc = await spawnAdapter(t, env, dir)
      await waitForHealth(proc)

      const bodies: string[] = []
      const call = async (body: unknown, key = API_KEY, path = '/v1/chat/completions') => {
        const response = await fetch(`${proc.url}${path}`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
          body: typeof body === 'string' ? body : JSON.stringify(body),
        })
        const text = await response.text()
        bodies.push(text)
        return { status: response.status, text }
      }
      const ask = (content: string, extra: Record<string, unknown> = {}) => ({ model: 'gpt-4.1', messages: [{ role: 'user', content: `${marker} ${content}` }], ...extra })

      // Successes.
      assert.equal((await call(ask('plain'))).status, 200)
      assert.equal((await call(ask('streamed', { stream: true }))).status, 200)
      bodies.push(await (await fetch(`${proc.url}/v1/models`, { headers: { authorization: `Bearer ${API_KEY}` } })).text())
      bodies.push(await (await fetch(`${proc.url}/health`)).text())
      // The client's own failures.
      assert.equal((await call(ask('wrong key'), `${API_KEY}-not`)).status, 401)
      assert.equal((await call(`{"model": "gpt-4.1", "messages": "${marker}"`)).status, 400)
      assert.equal((await call(ask('bad temperature', { temperature: 7 }))).status, 400)
      // The platform's failures: 429 that does not clear, 5xx that echo the credentials back, a network drop, errors mid-stream, a stall.
      // (Faults go on completions: with a ready session kept, a request may make no saveSession call.
      // Each is injected more often than the adapter tries, and what is left is cleared after.)
      const clearFaults = () => {
        while (sim.state.takeFault('completions')) void 0
      }
      sim.state.injectFault('completions', { kind: 'status', status: 429, times: 10 })
      assert.equal((await call(ask('rate limited'))).status, 429)
      clearFaults()
      sim.state.injectFault('completions', { kind: 'status', status: 500, times: 10, message: `bad session ${creds.sdpSession} for ${creds.jmToken} cookie ${cookie}` })
      const echoed = await call(ask('echoed secrets'))
      assert.equal(echoed.status, 502)
      assert.match(echoed.text, /HTTP 500 on completions: bad session sdp-/)
      clearFaults()
      sim.state.injectFault('completions', { kind: 'network', times: 10 })
      assert.equal((await call(ask('network'))).status, 502)
      clearFaults()
      assert.match((await call(ask('[[sim:error-after=2]] mid-stream', { stream: true }))).text, /Simulated model error/)
      assert.match((await call(ask('[[sim:stall-after=2]] stalled', { stream: true }))).text, /stream_stalled/)
      // 403: the token is revoked; the adapter logs in again with the (wrong) saved password, and fails.
      sim.state.tokens.revokeAll()
      const forbidden = await call(ask('after revoke'))
      assert.equal(forbidden.status, 401, forbidden.text)

      proc.child.kill('SIGTERM')
      assert.equal(await proc.exited, 0, proc.output())

      assert.equal(statSync(logFile).mode & 0o077, 0, 'the log file is readable by other users')
      const logs = readdirSync(join(dir, 'logs')).map((name) => readFileSync(join(dir, 'logs', name), 'utf8'))
      const logText = logs.join('\n')
      assert.match(logText, /POST \/v1\/chat\/completions/, 'the log file holds no request lines')
      assert.match(logText, /→ 429/, 'the log file does not show the failures')
      const places: Array<[string, string]> = [
        ['the log file', logText],
        ['the console output', proc.output()],
        ['the responses', bodies.join('\n')],
      ]
      const secrets: Array<[string, string]> = [
        ['the JWT', creds.jmToken],
        ['the sdp-app-session', creds.sdpSession],
        ['the cookie header', cookie],
        ['the other cookie value', otherCookie.split('=')[1]!],
        ['the saved password', WRONG_PASSWORD],
        ['the API key', API_KEY],
        ['the JWT signature', creds.jmToken.split('.')[2]!],
      ]
      for (const [where, text] of places) {
        for (const [what, secret] of secrets) assert.ok(!text.includes(secret), `${what} appears in ${where}`)
      }
      // Prompts and answers are not logged without XIPU_LOG_PROMPTS.
      assert.ok(!logText.includes(marker), 'a prompt or an answer appears in the log file')
      assert.ok(!proc.output().includes(marker), 'a prompt or an answer appears in the console output')
    })

    test('XIPU_LOG_PROMPTS=1 logs prompts and answers, and still no secret', { timeout: 60_000 }, async (t) => {
      const { dir, creds, env } = await startSimulatorForProcess(t, { minGapMs: 100 })
      const logFile = join(dir, 'adapter.log')
      const marker = `PROMPT-MARKER-${randomBytes(8).toString('hex')}`
      const proc = await spawnAdapter(t, { ...env, XIPU_MIN_GAP_MS: '100', XIPU_LOG_FILE: logFile, XIPU_LOG_PROMPTS: '1' }, dir)
      await waitForHealth(proc)
      const openai = new OpenAI({ baseURL: `${proc.url}/v1`, apiKey: 'unused', maxRetries: 0 })
      const reply = await openai.chat.completions.create({ model: 'gpt-4.1', messages: [{ role: 'user', content: marker }] })
      assert.match(reply.choices[0]?.message.content ?? '', new RegExp(marker))
      await waitFor('the answer in the log', () => existsSync(logFile) && readFileSync(logFile, 'utf8').includes(`Echo from gpt-4.1: ${marker}`))
      proc.child.kill('SIGTERM')
      await proc.exited
      const logText = readFileSync(logFile, 'utf8')
      assert.match(logText, new RegExp(`Prompt \\(gpt-4\\.1\\):\\s+User:\\s+${marker}`))
      for (const secret of [creds.jmToken, creds.sdpSession]) {
        assert.ok(!logText.includes(secret))
        assert.ok(!proc.output().includes(secret))
      }
    })
  })
})
