/**
 * Web pages must not reach the API: the Host check against DNS rebinding,
 * the Origin check against cross-site requests, and the JSON content type,
 * all before the platform is called. Raw `node:http` requests, because fetch
 * cannot set `Host`; the official SDK and a curl-like client keep working.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { hostname, networkInterfaces } from 'node:os'
import { after, before, describe, test } from 'node:test'
import OpenAI from 'openai'
import { startStack, type Stack } from './support/harness.ts'
import { sendRaw, type RawReply } from './support/raw-http.ts'

const CHAT = JSON.stringify({ model: 'gpt-4.1', messages: [{ role: 'user', content: 'spend the account' }] })
const JSON_HEADERS = { 'content-type': 'application/json' }

function assertOpenAIError(reply: RawReply, status: number, code: string, pattern: RegExp): void {
  assert.equal(reply.status, status, reply.text)
  assert.match(String(reply.headers['content-type']), /application\/json/)
  const error = reply.json?.error
  assert.ok(error, `not an OpenAI error: ${reply.text}`)
  assert.deepEqual(Object.keys(error).sort(), ['code', 'message', 'param', 'type'])
  assert.equal(error.type, 'invalid_request_error')
  assert.equal(error.code, code)
  assert.match(error.message, pattern)
}

describe('the Host check (DNS rebinding), bound to loopback', () => {
  let stack: Stack
  let port: number
  before(async () => {
    stack = await startStack()
    port = Number(new URL(stack.adapter.url).port)
  })
  after(() => stack.close())

  test('a rebound name gets 403 on every route, /health included, and nothing reaches the platform', async () => {
    const before = stack.calls().length
    for (const host of ['evil.example', `evil.example:${port}`, 'localhost.evil.example', '127.0.0.1.nip.io', 'evil.example.:80', 'a b', '']) {
      for (const [method, path, body] of [
        ['POST', '/v1/chat/completions', CHAT],
        ['POST', '/chat/completions', CHAT],
        ['GET', '/v1/models', undefined],
        ['GET', '/v1/models/gpt-4.1', undefined],
        ['GET', '/health', undefined],
        ['GET', '/', undefined],
        ['GET', '/v1/no-such-route', undefined],
      ] as const) {
        const reply = await sendRaw(`${stack.adapter.url}${path}`, { method, headers: { host, ...JSON_HEADERS }, body })
        if (host === '') {
          // An empty Host is no name at all: refused the same way (Node itself may refuse it first).
          assert.ok(reply.status === 403 || reply.status === 400, `${method} ${path} with an empty Host: ${reply.status}`)
          continue
        }
        assertOpenAIError(reply, 403, 'host_not_allowed', /XIPU_ALLOWED_HOSTS/)
        assert.match(reply.json.error.message, /DNS rebinding/)
        assert.equal(reply.headers['access-control-allow-origin'], undefined)
      }
    }
    assert.deepEqual(stack.calls().slice(before), [], 'a request with a foreign Host reached the platform')
  })

  test('loopback addresses, localhost and *.localhost pass, with any port', async () => {
    for (const host of ['127.0.0.1', `127.0.0.1:${port}`, '127.0.0.2:1', `localhost:${port}`, 'localhost', 'LOCALHOST.', `app.localhost:${port}`, `[::1]:${port}`, '[::1]', '[::ffff:127.0.0.1]:80']) {
      const reply = await sendRaw(`${stack.adapter.url}/health`, { headers: { host } })
      assert.equal(reply.status, 200, `Host ${host}: ${reply.text}`)
    }
  })

  test('the official SDK and a curl-like client work, over 127.0.0.1 and localhost', async () => {
    for (const baseURL of [stack.adapter.baseURL, `http://localhost:${port}/v1`]) {
      const openai = new OpenAI({ baseURL, apiKey: 'unused', maxRetries: 0 })
      const reply = await openai.chat.completions.create({ model: 'gpt-4.1', messages: [{ role: 'user', content: `via ${baseURL}` }] })
      assert.match(reply.choices[0]?.message.content ?? '', /via http/)
      const stream = await openai.chat.completions.create({ model: 'gpt-4.1', stream: true, messages: [{ role: 'user', content: 'streamed' }] })
      let text = ''
      for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? ''
      assert.match(text, /streamed/)
      assert.ok((await openai.models.list()).data.length > 0)
    }
    // curl: Host as typed, `accept: */*`, a JSON body declared with -H.
    const curl = await sendRaw(`${stack.adapter.baseURL}/chat/completions`, {
      method: 'POST',
      headers: { host: `localhost:${port}`, 'user-agent': 'curl/8.5.0', accept: '*/*', 'content-type': 'application/json' },
      body: CHAT,
    })
    assert.equal(curl.status, 200, curl.text)
  })
})

describe('XIPU_ALLOWED_HOSTS', () => {
  test('adds names (a reverse proxy, *.subdomains), keeps refusing the rest; * turns the check off', async (t) => {
    const listed = await startStack({ stopAfter: t, overrides: { XIPU_ALLOWED_HOSTS: 'proxy.example, *.lan.example' } })
    for (const host of ['proxy.example', 'proxy.example:443', 'box.lan.example', 'localhost']) {
      assert.equal((await sendRaw(`${listed.adapter.url}/health`, { headers: { host } })).status, 200, host)
    }
    for (const host of ['evil.example', 'lan.example', 'proxy.example.evil.example']) {
      assertOpenAIError(await sendRaw(`${listed.adapter.url}/health`, { headers: { host } }), 403, 'host_not_allowed', /XIPU_ALLOWED_HOSTS/)
    }

    const off = await startStack({ stopAfter: t, overrides: { XIPU_ALLOWED_HOSTS: '*' } })
    const reply = await sendRaw(`${off.adapter.baseURL}/chat/completions`, { method: 'POST', headers: { host: 'evil.example', ...JSON_HEADERS }, body: CHAT })
    assert.equal(reply.status, 200, reply.text)
  })
})

describe('the Host check, bound to all interfaces', () => {
  test('HOST=0.0.0.0 answers the machine’s names and addresses and localhost, and nothing else', async (t) => {
    const key = `sk-test-${randomBytes(16).toString('hex')}`
    const stack = await startStack({ stopAfter: t, overrides: { HOST: '0.0.0.0', ADAPTER_API_KEY: key } })
    const url = `http://127.0.0.1:${new URL(stack.adapter.url).port}`
    const addresses = Object.values(networkInterfaces()).flatMap((list) => list ?? []).map((i) => (i.family === 'IPv6' ? `[${i.address}]` : i.address))
    for (const host of [hostname(), `${hostname()}:8000`, 'localhost', '0.0.0.0', ...addresses.filter((a) => !a.includes('%'))]) {
      assert.equal((await sendRaw(`${url}/health`, { headers: { host } })).status, 200, `Host ${host}`)
    }
    const before = stack.calls().length
    const reply = await sendRaw(`${url}/v1/chat/completions`, { method: 'POST', headers: { host: 'evil.example', authorization: `Bearer ${key}`, ...JSON_HEADERS }, body: CHAT })
    assertOpenAIError(reply, 403, 'host_not_allowed', /XIPU_ALLOWED_HOSTS/)
    assert.deepEqual(stack.calls().slice(before), [])
  })
})

describe('cross-site requests: Origin and content type', () => {
  let stack: Stack
  let port: number
  before(async () => {
    stack = await startStack({ readySession: false, overrides: { XIPU_CORS_ORIGINS: 'http://localhost:3000' } })
    port = Number(new URL(stack.adapter.url).port)
  })
  after(() => stack.close())

  test('a page of another origin (or Origin: null) gets 403, whatever it sends', async () => {
    const before = stack.calls().length
    for (const origin of ['https://evil.example', 'null', 'http://localhost:3001', `http://evil.example:${port}`]) {
      for (const type of ['application/json', 'text/plain', 'application/x-www-form-urlencoded']) {
        const reply = await sendRaw(`${stack.adapter.baseURL}/chat/completions`, { method: 'POST', headers: { origin, 'content-type': type }, body: CHAT })
        assertOpenAIError(reply, 403, 'origin_not_allowed', /XIPU_CORS_ORIGINS/)
      }
      assertOpenAIError(await sendRaw(`${stack.adapter.baseURL}/models`, { headers: { origin } }), 403, 'origin_not_allowed', /XIPU_CORS_ORIGINS/)
    }
    assert.deepEqual(stack.calls().slice(before), [], 'a cross-site request reached the platform')
  })

  test('a body that is not declared JSON gets 415 (text/plain, forms, none), before the platform', async () => {
    const before = stack.calls().length
    const form = `--b\r\ncontent-disposition: form-data; name="x"\r\n\r\n${CHAT}\r\n--b--\r\n`
    for (const [type, body] of [
      ['text/plain', CHAT],
      ['text/plain;charset=UTF-8', CHAT],
      ['application/x-www-form-urlencoded', `x=${encodeURIComponent(CHAT)}`],
      ['multipart/form-data; boundary=b', form],
      [undefined, CHAT],
      ['application/jsonp', CHAT],
    ] as const) {
      const headers: Record<string, string> = type ? { 'content-type': type } : {}
      const reply = await sendRaw(`${stack.adapter.baseURL}/chat/completions`, { method: 'POST', headers, body })
      assertOpenAIError(reply, 415, 'unsupported_media_type', /application\/json/)
      assert.equal(reply.json.error.param, 'content-type')
    }
    assert.deepEqual(stack.calls().slice(before), [], 'a request without a JSON content type reached the platform')
    // JSON with parameters, in any case, is JSON.
    const ok = await sendRaw(`${stack.adapter.baseURL}/chat/completions`, { method: 'POST', headers: { 'content-type': 'Application/JSON; charset=utf-8' }, body: CHAT })
    assert.equal(ok.status, 200, ok.text)
  })

  test('a listed origin and the adapter’s own origin pass; preflights answer as before', async () => {
    const listed = await sendRaw(`${stack.adapter.baseURL}/chat/completions`, { method: 'POST', headers: { origin: 'http://localhost:3000', ...JSON_HEADERS }, body: CHAT })
    assert.equal(listed.status, 200, listed.text)
    assert.equal(listed.headers['access-control-allow-origin'], 'http://localhost:3000')
    // A listed origin still sends JSON: a 415 it can read (CORS headers kept).
    const plain = await sendRaw(`${stack.adapter.baseURL}/chat/completions`, { method: 'POST', headers: { origin: 'http://localhost:3000', 'content-type': 'text/plain' }, body: CHAT })
    assert.equal(plain.status, 415)
    assert.equal(plain.headers['access-control-allow-origin'], 'http://localhost:3000')
    const own = await sendRaw(`${stack.adapter.baseURL}/models`, { headers: { host: `localhost:${port}`, origin: `http://localhost:${port}` } })
    assert.equal(own.status, 200, own.text)

    const preflight = (origin: string) =>
      sendRaw(`${stack.adapter.baseURL}/chat/completions`, { method: 'OPTIONS', headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type' } })
    const good = await preflight('http://localhost:3000')
    assert.equal(good.status, 204)
    assert.equal(good.headers['access-control-allow-origin'], 'http://localhost:3000')
    const evil = await preflight('https://evil.example')
    assert.equal(evil.status, 204)
    assert.equal(evil.headers['access-control-allow-origin'], undefined)
  })
})
