/**
 * Failures, as a client sees them (bad input has its own file,
 * bad-input.test.ts): a truncated stream and an error event are errors,
 * never a finished answer; an expired token is a 401 that says
 * how to log in again; a new token written into `.env` is used at once.
 */
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import OpenAI from 'openai'
import { startStack, type Stack } from './support/harness.ts'
import { readRawStream } from './support/sse.ts'
import { waitFor } from './support/wait-for.ts'

let stack: Stack

before(async () => {
  stack = await startStack({ gapMs: 120, overrides: { XIPU_BODY_LIMIT: '4096' } })
})
after(async () => {
  // Checked after every test of the file, so that it cannot pass by running alone.
  try {
    assert.equal(stack.sim.state.rateLimited, 0, 'no 429 from the platform')
    await stack.waitForCleanPlatform()
    const pooled = new Set(stack.adapter.sessions.pool.freeIds())
    const names = [...stack.sim.state.sessions.values()].filter((s) => !pooled.has(s.id)).map((s) => s.name).sort()
    assert.deepEqual(names, [...stack.webChats].sort(), 'the seeded web chats are all still there, and nothing else but the pooled sessions')
  } finally {
    await stack?.close()
  }
})

/** Asserts OpenAI's error shape exactly: `{"error":{"message","type","param","code"}}`. */
function assertOpenAIError(body: unknown, expect: { param?: string | null; code?: string; type?: string } = {}): { message: string; type: string; param: string | null; code: string | null } {
  assert.ok(body && typeof body === 'object', 'an object body')
  assert.deepEqual(Object.keys(body), ['error'])
  const error = (body as { error: Record<string, unknown> }).error
  assert.deepEqual(Object.keys(error).sort(), ['code', 'message', 'param', 'type'])
  assert.equal(typeof error.message, 'string')
  assert.ok((error.message as string).length > 10, 'a message that says something')
  assert.equal(typeof error.type, 'string')
  assert.ok(error.param === null || typeof error.param === 'string')
  assert.ok(error.code === null || typeof error.code === 'string')
  if (expect.param !== undefined) assert.equal(error.param, expect.param)
  if (expect.code !== undefined) assert.equal(error.code, expect.code)
  if (expect.type !== undefined) assert.equal(error.type, expect.type)
  return error as never
}

const ok = [{ role: 'user', content: 'hi' }]

describe('failures of the platform', () => {
  test('a truncated stream (no [DONE]) is a 502 for a non-streaming request, never a finished answer', async () => {
    const response = await stack.postChat({ model: 'gpt-4.1', messages: [{ role: 'user', content: 'Cut me off [[sim:truncate-after=4]]' }] })
    assert.equal(response.status, 502)
    assertOpenAIError(await response.json(), { code: 'stream_truncated', type: 'upstream_error' })
    await stack.waitForCleanPlatform()
  })

  test('a truncated stream makes the SDK stream throw, and the wire has no finish and no [DONE]', async () => {
    const messages = [{ role: 'user' as const, content: 'Cut me off too [[sim:truncate-after=5]]' }]
    const stream = await stack.openai.chat.completions.create({ model: 'gpt-4.1', messages, stream: true })
    let content = ''
    await assert.rejects(
      (async () => {
        for await (const chunk of stream) content += chunk.choices[0]?.delta.content ?? ''
      })(),
      (error: unknown) => error instanceof OpenAI.APIError && /without \[DONE\]|incomplete|broke off/i.test(error.message),
    )
    assert.ok(content.length > 0, 'some text came before the cut')

    const raw = await readRawStream(await stack.postChat({ model: 'gpt-4.1', messages, stream: true }))
    assert.equal(raw.doneCount, 0, 'no [DONE] after an error')
    assert.ok(raw.chunks.every((c) => !c.choices?.some((ch) => ch.finish_reason !== null)), 'no finish_reason')
    const last = raw.chunks.at(-1)!
    assertOpenAIError(last, { code: 'stream_truncated' })
    await stack.waitForCleanPlatform()
  })

  test('an error event (code ≠ 0) is a 502 for a non-streaming request', async () => {
    const response = await stack.postChat({ model: 'gpt-4.1', messages: [{ role: 'user', content: 'Fail midway [[sim:error-after=3]]' }] })
    assert.equal(response.status, 502)
    const error = assertOpenAIError(await response.json(), { type: 'upstream_error' })
    assert.match(error.message, /Simulated model error/)
    await stack.waitForCleanPlatform()
  })

  test('an error event before any piece is a 502 too', async () => {
    const response = await stack.postChat({ model: 'gpt-4.1', messages: [{ role: 'user', content: 'Fail at once [[sim:error-after=0]]' }] })
    assert.equal(response.status, 502)
    assertOpenAIError(await response.json(), { type: 'upstream_error' })
    await stack.waitForCleanPlatform()
  })

  test('an error event makes the SDK stream throw', async () => {
    const stream = await stack.openai.chat.completions.create({ model: 'gpt-4.1', messages: [{ role: 'user', content: 'Fail in a stream [[sim:error-after=2]]' }], stream: true })
    let finished = false
    await assert.rejects(
      (async () => {
        for await (const chunk of stream) if (chunk.choices[0]?.finish_reason) finished = true
      })(),
      (error: unknown) => error instanceof OpenAI.APIError && /Simulated model error/.test(error.message),
    )
    assert.equal(finished, false, 'never a finished answer')
    await stack.waitForCleanPlatform()
  })

  test('a platform 500 on every try is a 502 after the retries', async () => {
    stack.sim.state.injectFault('saveSession', { kind: 'status', status: 500, times: 10 })
    try {
      const response = await stack.postChat({ model: 'gpt-4.1', messages: ok, stream: true })
      assert.equal(response.status, 502)
      assertOpenAIError(await response.json(), { type: 'upstream_error' })
    } finally {
      // Drain the faults not used, so later tests see a healthy platform.
      while (stack.sim.state.takeFault('saveSession')) {}
    }
    await stack.waitForCleanPlatform()
  })
})

describe('credentials', () => {
  test('an expired token → 401 saying to run npx tsx auth.ts, stream or not, and no session left', async () => {
    const fresh = stack.sim.issueCredentials('demo')
    const expiring = stack.sim.issueCredentials('demo', 1)
    stack.writeCredentials(expiring)
    await waitFor('the token to expire', () => Date.now() > expiring.expiresAt.getTime(), 5000)
    try {
      for (const stream of [false, true]) {
        const response = await stack.postChat({ model: 'gpt-4.1', messages: ok, stream })
        assert.equal(response.status, 401)
        const error = assertOpenAIError(await response.json(), { type: 'authentication_error', code: 'xipu_token_expired' })
        assert.match(error.message, /npx tsx auth\.ts/)
      }
      await assert.rejects(stack.openai.chat.completions.create({ model: 'gpt-4.1', messages: ok as never }), (error: unknown) => {
        assert.ok(error instanceof OpenAI.AuthenticationError)
        assert.match(error.message, /npx tsx auth\.ts/)
        return true
      })
      assert.equal(stack.unseededSessions().length, 0)
      const health = (await (await fetch(stack.adapter.baseURL.replace(/\/v1$/, '/health'))).json()) as { token: { expired: boolean } }
      assert.equal(health.token.expired, true, '/health tells the token has expired')
    } finally {
      stack.writeCredentials(fresh)
    }
    await stack.waitForCleanPlatform()
  })

  test('a token revoked on the platform → 401', async () => {
    stack.sim.state.tokens.revokeAll()
    try {
      const response = await stack.postChat({ model: 'gpt-4.1', messages: ok })
      assert.equal(response.status, 401)
      assert.match(assertOpenAIError(await response.json(), { type: 'authentication_error' }).message, /npx tsx auth\.ts/)
    } finally {
      stack.writeCredentials(stack.sim.issueCredentials('demo'))
    }
  })

  test('a 403 on completions (after the session was made) still deletes the session', async () => {
    stack.sim.state.injectFault('completions', { kind: 'status', status: 403 })
    const response = await stack.postChat({ model: 'gpt-4.1', messages: ok })
    assert.equal(response.status, 401)
    assertOpenAIError(await response.json(), { code: 'xipu_token_expired' })
    await stack.waitForCleanPlatform()
  })

  test('.env hot reload: a new JM_TOKEN written while the adapter runs is used by the next request', async () => {
    const before = await stack.openai.chat.completions.create({ model: 'gpt-4.1', messages: ok as never })
    assert.ok(before.choices[0]!.message.content)
    // That request's session is deleted (with the token of its time) before the token changes.
    await stack.waitForCleanPlatform()

    // A new login elsewhere: the old token is dead, auth.ts writes the new one.
    stack.sim.state.tokens.revokeAll()
    const renewed = stack.sim.issueCredentials('demo')
    stack.writeCredentials(renewed)
    const since = stack.sim.state.calls.length

    const reply = await stack.openai.chat.completions.create({ model: 'gpt-4.1', messages: [{ role: 'user', content: 'with the new token' }] })
    assert.match(reply.choices[0]!.message.content ?? '', /with the new token/)
    await stack.waitForCleanPlatform()
    const calls = stack.calls({ since })
    assert.ok(calls.some((c) => c.endpoint === 'completions'))
    assert.ok(calls.every((c) => c.headers['jm-token'] === renewed.jmToken && c.headers['sdp-app-session'] === renewed.sdpSession))
    assert.ok(calls.every((c) => c.status === 200))
  })
})
