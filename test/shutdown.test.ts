/**
 * Shutdown: while running requests finish, new ones get 503 `shutting_down`
 * with `Retry-After` (the port stays open: no refused connection), and a
 * stream still running when the grace is over ends with an error event in
 * OpenAI's shape, not a cut connection. Its session is deleted either way.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { APIError } from 'openai'
import { startStack } from './support/harness.ts'
import { joinDeltas, readRawStream, readSseData } from './support/sse.ts'
import { waitFor } from './support/wait-for.ts'

const GAP_MS = 50

/** Starts a stream and resolves once its first content arrived, with the rest still to read. */
async function startStream(url: string, content: string) {
  const response = await fetch(`${url}/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'gpt-4.1', stream: true, messages: [{ role: 'user', content }] }),
  })
  assert.equal(response.status, 200)
  const [mine, rest] = response.body!.tee()
  const events = readSseData(mine)
  for (;;) {
    const { value, done } = await events.next()
    assert.ok(!done, 'the stream ended before any content')
    if (/"content":"[^"]+"/.test(value)) break
  }
  void events.return(undefined)
  return new Response(rest)
}

describe('shutdown', () => {
  test('new requests get 503 shutting_down with Retry-After while a running stream finishes whole', { timeout: 60_000 }, async (t) => {
    const stack = await startStack({ gapMs: GAP_MS })
    t.after(() => stack.close())
    const running = await startStream(stack.adapter.baseURL, '[[sim:slow=2]] [[sim:long=2000]] finish me')
    const closing = stack.adapter.close(30_000)
    await waitFor('shutdown to begin', async () => ((await (await fetch(`${stack.adapter.url}/health`)).json()) as { status: string }).status === 'shutting_down')

    const before = stack.calls().length
    for (const [method, path, body] of [
      ['POST', '/v1/chat/completions', JSON.stringify({ model: 'gpt-4.1', messages: [{ role: 'user', content: 'too late' }] })],
      ['GET', '/v1/models', undefined],
    ] as const) {
      const response = await fetch(`${stack.adapter.url}${path}`, { method, headers: { 'content-type': 'application/json' }, body })
      const parsed = (await response.json()) as { error: { code: string; type: string; message: string } }
      assert.equal(response.status, 503, `${method} ${path}: ${JSON.stringify(parsed)}`)
      assert.equal(response.headers.get('retry-after'), '5')
      assert.equal(parsed.error.code, 'shutting_down')
      assert.equal(parsed.error.type, 'server_error')
    }
    await assert.rejects(stack.openai.chat.completions.create({ model: 'gpt-4.1', messages: [{ role: 'user', content: 'SDK, too late' }] }), (error: unknown) => error instanceof APIError && error.status === 503)
    assert.equal(stack.calls({ since: before }).filter((c) => c.endpoint !== 'delSession').length, 0, 'a request made during shutdown reached the platform')

    const raw = await readRawStream(running)
    assert.equal(raw.doneCount, 1, 'the running stream did not finish')
    assert.ok(Buffer.byteLength(joinDeltas(raw.chunks).content) >= 2000)
    await closing
    assert.equal(stack.adapterSessions().length, 0, 'its session was left on the platform')
  })

  test('a stream still running when the grace is over ends with an error event, not a cut connection', { timeout: 60_000 }, async (t) => {
    const stack = await startStack({ gapMs: GAP_MS })
    t.after(() => stack.close())
    const running = await startStream(stack.adapter.baseURL, '[[sim:slow=100]] [[sim:long=20000]] too long to finish')
    await stack.adapter.close(500)
    // readRawStream throws on anything that is not whole `data:` events ending in a blank line.
    const raw = await readRawStream(running)
    const last = raw.chunks.at(-1)!
    assert.equal(last.error?.code, 'shutting_down', raw.text.slice(-300))
    assert.equal(last.error?.type, 'server_error')
    assert.match(last.error?.message ?? '', /shut down before this answer was complete/)
    assert.equal(raw.doneCount, 0)
    assert.ok(joinDeltas(raw.chunks.filter((c) => !c.error)).content.length > 0)
    await waitFor('the session deleted', () => stack.adapterSessions().length === 0 && stack.sim.state.streamsOpen === 0)
  })
})
