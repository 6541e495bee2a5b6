/**
 * Faults, each injected by the simulator: a client that goes away, platform
 * errors before and after the first byte, a stream that stalls, and the
 * 50-session cap. Whatever happens, the session is deleted and nothing of
 * the user's is touched.
 */
import assert from 'node:assert/strict'
import { readdirSync } from 'node:fs'
import { join } from 'node:path'
import { describe, test, type TestContext } from 'node:test'
import { APIError } from 'openai'
import { createSessionName } from '../lib/sessions/names.ts'
import type { RunningSimulator } from '../lib/simulator/index.ts'
import { startStack, type Stack } from './support/harness.ts'
import { listAdapterSessions, listDeletedIds, measureSmallestGap, readSessionId, WEB_CHATS } from './support/platform.ts'
import { spawnAdapter, startSimulatorForProcess, waitForHealth, type AdapterProcess } from './support/processes.ts'
import { readSseData } from './support/sse.ts'
import { waitFor } from './support/wait-for.ts'

// The stack's default gap. Sessions are deleted right after each request: the
// stack keeps no ready session unless asked, and none is asked for here.
const GAP_MS = 100

type ErrorBody = { error: { message: string; type: string; param: string | null; code: string | null } }

/** POSTs one user message (and `extra` fields) with fetch. */
function postPrompt(stack: Stack, content: string, extra: Record<string, unknown> = {}, init: RequestInit = {}): Promise<Response> {
  return stack.postChat({ model: 'gpt-4.1', messages: [{ role: 'user', content }], ...extra }, init)
}

/** Reads a raw stream: the chunks' content, and the error event if one came, and whether [DONE] came. */
async function readStream(response: Response): Promise<{ content: string; error?: ErrorBody['error']; done: boolean; afterError: number }> {
  let content = ''
  let error: ErrorBody['error'] | undefined
  let done = false
  let afterError = 0
  for await (const data of readSseData(response.body!)) {
    if (error) afterError++
    if (data === '[DONE]') {
      done = true
      continue
    }
    const parsed = JSON.parse(data) as Partial<ErrorBody> & { choices?: Array<{ delta: { content?: string } }> }
    if (parsed.error) error = parsed.error
    else content += parsed.choices?.[0]?.delta.content ?? ''
  }
  return { content, error, done, afterError }
}

/** The session the last completions call ran in. */
function lastCompletionSession(sim: RunningSimulator): number {
  const call = sim.state.calls.filter((c) => c.endpoint === 'completions').at(-1)
  assert.ok(call, 'no completions call was made')
  return readSessionId(call)
}

/** After a request that ended well: its session back in the pool, nothing else left, the web chats untouched. */
async function expectSessionPooled(stack: Stack, id: number): Promise<void> {
  await stack.waitForCleanPlatform()
  await waitFor(`session ${id} back in the pool`, () => stack.adapter.sessions.activeCount() === 0 && stack.adapter.sessions.pool.freeIds().includes(id))
  assert.deepEqual(stack.userChats().sort(), [...stack.webChats].sort(), "the user's own chats were touched")
}

async function expectSessionDeleted(stack: Stack, id: number): Promise<void> {
  await waitFor(`session ${id} deleted`, () => !stack.sim.state.sessions.has(id) && stack.adapter.sessions.activeCount() === 0)
  assert.ok(listDeletedIds(stack.calls()).includes(id), `no delSession call named ${id}`)
  assert.deepEqual(stack.userChats().sort(), [...stack.webChats].sort(), "the user's own chats were touched")
}

describe('faults', { concurrency: 2 }, () => {
  // A client that disconnects mid-stream (SDK or raw) is covered in adapter-sessions.test.ts.
  describe('client disconnect before its turn', () => {
    test('a client that goes away while queued never reaches the platform', async (t) => {
      const stack = await startStack({ stopAfter: t, gapMs: 1000 })
      const first = stack.openai.chat.completions.create({ model: 'gpt-4.1', messages: [{ role: 'user', content: 'first' }] })
      await waitFor('the first request to take its turn', () => stack.adapter.pacer.callCount() === 1)
      const controller = new AbortController()
      const queued = postPrompt(stack, 'never sent', {}, { signal: controller.signal }).catch((error: Error) => error)
      await waitFor('the second request to wait', () => stack.adapter.pacer.depth().request >= 1)
      controller.abort()
      assert.equal(((await queued) as Error).name, 'AbortError')
      await first
      await stack.waitForCleanPlatform()
      await waitFor('no request running', () => stack.adapter.sessions.activeCount() === 0)
      assert.equal(stack.calls({ endpoint: 'saveSession' }).length, 1, 'the aborted request still created a session')
    })
  })

  describe('platform errors before the first byte are retried through the pacer', () => {
    for (const fault of [
      { endpoint: 'saveSession', kind: 'status' as const, status: 429, times: 2 },
      { endpoint: 'saveSession', kind: 'status' as const, status: 503, times: 2 },
      { endpoint: 'completions', kind: 'status' as const, status: 502, times: 2 },
      { endpoint: 'completions', kind: 'network' as const, times: 1 },
      { endpoint: 'saveSession', kind: 'network' as const, times: 2 },
    ]) {
      test(`${fault.endpoint}: ${fault.kind} ${fault.status ?? ''} × ${fault.times}, then the answer`, async (t) => {
        const stack = await startStack({ stopAfter: t })
        stack.sim.state.injectFault(fault.endpoint, fault)
        const stream = await stack.openai.chat.completions.create({ model: 'gpt-4.1', stream: true, messages: [{ role: 'user', content: 'retry me' }] })
        let content = ''
        for await (const chunk of stream) content += chunk.choices[0]?.delta.content ?? ''
        assert.equal(content, 'Echo from gpt-4.1: retry me | turns 1, history 0 | 你好🌏')

        const attempts = stack.calls({ endpoint: fault.endpoint })
        assert.equal(attempts.length, fault.times + 1)
        assert.deepEqual(attempts.map((c) => c.status), [...Array<number>(fault.times).fill(fault.status ?? 0), 200])
        // Through the pacer, and with backoff: never closer than the gap, and the
        // retries further apart than the gap alone would put them.
        assert.equal(stack.sim.state.rateLimited, 0)
        assert.ok(measureSmallestGap(stack.calls()) >= GAP_MS)
        for (let i = 1; i < attempts.length; i++) assert.ok(attempts[i]!.at - attempts[i - 1]!.at > 2 * GAP_MS, 'retried without backoff')
        // One session for the whole request, back in the pool afterwards.
        assert.equal(stack.calls({ endpoint: 'saveSession' }).filter((c) => c.status === 200).length, 1)
        await expectSessionPooled(stack, lastCompletionSession(stack.sim))
      })
    }

    test('when retries run out: the mapped error, and the session deleted', async (t) => {
      const stack = await startStack({ stopAfter: t, overrides: { XIPU_MAX_RETRIES: '2' } })
      stack.sim.state.injectFault('completions', { kind: 'status', status: 500, times: 3 })
      const response = await postPrompt(stack, 'doomed', { stream: true })
      assert.equal(response.status, 502)
      const body = (await response.json()) as ErrorBody
      assert.equal(body.error.type, 'upstream_error')
      assert.equal(body.error.code, 'xipu_error')
      assert.match(body.error.message, /HTTP 500 on completions/)
      assert.equal(stack.calls({ endpoint: 'completions' }).length, 3)
      await expectSessionDeleted(stack, lastCompletionSession(stack.sim))
    })

    test('a platform 429 that does not clear becomes a 429 with Retry-After', async (t) => {
      const stack = await startStack({ stopAfter: t, overrides: { XIPU_MAX_RETRIES: '1' } })
      stack.sim.state.injectFault('saveSession', { kind: 'status', status: 429, times: 2 })
      const response = await postPrompt(stack, 'too fast')
      assert.equal(response.status, 429)
      assert.ok(Number(response.headers.get('retry-after')) >= 1)
      const body = (await response.json()) as ErrorBody
      assert.equal(body.error.type, 'rate_limit_error')
      assert.equal(body.error.code, 'rate_limit_exceeded')
      assert.equal(stack.calls({ endpoint: 'saveSession' }).length, 2)
      assert.deepEqual(stack.adapterSessions(), [])
    })

    test('a 403 is not retried: it says to log in again', async (t) => {
      const stack = await startStack({ stopAfter: t })
      stack.sim.state.injectFault('saveSession', { kind: 'status', status: 403, times: 5 })
      await assert.rejects(
        stack.openai.chat.completions.create({ model: 'gpt-4.1', messages: [{ role: 'user', content: 'expired' }] }),
        (error: APIError) => error.status === 401 && error.code === 'xipu_token_expired' && /auth\.ts/.test(error.message),
      )
      assert.equal(stack.calls({ endpoint: 'saveSession' }).length, 1)
    })
  })

  describe('platform errors after the first byte', () => {
    for (const { directive, code, message } of [
      { directive: '[[sim:error-after=3]]', code: 'xipu_error', message: /Simulated model error/ },
      { directive: '[[sim:truncate-after=3]]', code: 'stream_truncated', message: /without \[DONE\]/ },
    ]) {
      test(`${directive}: an error event, the stream closed without [DONE], the session deleted`, async (t) => {
        const stack = await startStack({ stopAfter: t })
        const response = await postPrompt(stack, `${directive} partial`, { stream: true })
        assert.equal(response.status, 200)
        const read = await readStream(response)
        assert.ok(read.content.length > 0, 'no content came before the error')
        assert.ok(read.error, 'no error event')
        assert.equal(read.error.code, code)
        assert.equal(read.error.type, 'upstream_error')
        assert.match(read.error.message, message)
        assert.equal(read.done, false)
        assert.equal(read.afterError, 0, 'events came after the error')
        // Not retried once the first byte was relayed.
        assert.equal(stack.calls({ endpoint: 'completions' }).length, 1)
        await expectSessionDeleted(stack, lastCompletionSession(stack.sim))
      })
    }

    test('the SDK raises the error event as an APIError', async (t) => {
      const stack = await startStack({ stopAfter: t })
      const stream = await stack.openai.chat.completions.create({ model: 'gpt-4.1', stream: true, messages: [{ role: 'user', content: '[[sim:error-after=2]] sdk' }] })
      await assert.rejects(
        (async () => {
          for await (const _ of stream) void _
        })(),
        (error: Error) => error instanceof APIError && /Simulated model error/.test(error.message),
      )
      await expectSessionDeleted(stack, lastCompletionSession(stack.sim))
    })

    test('without streaming, the same failure is a 502', async (t) => {
      const stack = await startStack({ stopAfter: t })
      const response = await postPrompt(stack, '[[sim:truncate-after=2]] whole')
      assert.equal(response.status, 502)
      const body = (await response.json()) as ErrorBody
      assert.equal(body.error.code, 'stream_truncated')
      await expectSessionDeleted(stack, lastCompletionSession(stack.sim))
    })
  })

  describe('a platform stream that stalls', () => {
    // The bounds are short but not razor-thin: a loaded machine must not turn a live stream into a stalled one.
    test('the idle timeout ends it with an error event and deletes the session', async (t) => {
      const stack = await startStack({ stopAfter: t, overrides: { XIPU_IDLE_TIMEOUT_MS: '1000' } })
      const response = await postPrompt(stack, '[[sim:stall-after=2]] silent', { stream: true })
      const read = await readStream(response)
      assert.ok(read.content.length > 0)
      assert.equal(read.error?.code, 'stream_stalled')
      assert.match(read.error?.message ?? '', /XIPU_IDLE_TIMEOUT_MS/)
      assert.equal(read.done, false)
      await waitFor('the stalled upstream request to be aborted', () => stack.sim.state.streamsOpen === 0)
      await expectSessionDeleted(stack, lastCompletionSession(stack.sim))
    })

    test('without streaming: 504, and the session deleted', async (t) => {
      const stack = await startStack({ stopAfter: t, overrides: { XIPU_IDLE_TIMEOUT_MS: '1000' } })
      const response = await postPrompt(stack, '[[sim:stall-after=2]] whole answer please')
      assert.equal(response.status, 504)
      const body = (await response.json()) as ErrorBody
      assert.equal(body.error.code, 'stream_stalled')
      await expectSessionDeleted(stack, lastCompletionSession(stack.sim))
    })

    test('a platform that never answers the call at all: an error, not a hang', async (t) => {
      const stack = await startStack({ stopAfter: t, overrides: { XIPU_IDLE_TIMEOUT_MS: '1000', XIPU_CALL_TIMEOUT_MS: '2000', XIPU_MAX_RETRIES: '0' } })
      stack.sim.state.injectFault('completions', { kind: 'stall' })
      const response = await postPrompt(stack, 'hello?')
      assert.ok([502, 504].includes(response.status), `status ${response.status}`)
      const body = (await response.json()) as ErrorBody
      assert.ok(['xipu_unreachable', 'stream_stalled'].includes(body.error.code ?? ''), body.error.code ?? '')
      await expectSessionDeleted(stack, lastCompletionSession(stack.sim))
    })
  })

  describe('the 50-session cap', () => {
    const ORPHAN_AGE_MS = 3_600_000 // an hour old: long past any request's lifetime

    function seedOrphans(sim: RunningSimulator, count: number): number[] {
      const name = createSessionName(new Date(Date.now() - ORPHAN_AGE_MS))
      return Array.from({ length: count }, () => sim.state.createSession('demo', { name, model: 'gpt-4.1', temperature: 0.7, maxToken: 0, presencePenalty: 0, frequencyPenalty: 0, contextCount: 4 }).id)
    }

    test("first deletes the adapter's own orphans, then tries again", async (t) => {
      const stack = await startStack({ stopAfter: t, simulator: { sessionCap: 50 } })
      // 2 web chats, 45 more of the user's, and 3 orphans a crashed adapter left: the cap.
      for (let i = 0; i < 45; i++) stack.sim.state.createSession('demo', { name: `Chat ${i}`, model: 'gpt-4.1', temperature: 0.7, maxToken: 0, presencePenalty: 0, frequencyPenalty: 0, contextCount: 4 })
      const orphans = seedOrphans(stack.sim, 3)
      const users = stack.userChats().sort()
      const userIds = [...stack.sim.state.sessions.values()].filter((s) => !orphans.includes(s.id)).map((s) => s.id)
      assert.equal(stack.sim.state.sessions.size, 50)

      const reply = await stack.openai.chat.completions.create({ model: 'gpt-4.1', messages: [{ role: 'user', content: 'room please' }] })
      assert.match(reply.choices[0]?.message.content ?? '', /^Echo from gpt-4\.1: room please/)
      assert.deepEqual(stack.calls({ endpoint: 'saveSession' }).map((c) => c.status), [200, 200], 'the first try hit the cap (code ≠ 0 in a 200), the second worked')
      for (const id of orphans) assert.equal(stack.sim.state.sessions.has(id), false, `orphan ${id} is still there`)
      await waitFor('only the pooled session left of the adapter\'s', () => stack.adapterSessions().every((s) => stack.adapter.sessions.pool.freeIds().includes(s.id)))
      assert.deepEqual(stack.userChats().sort(), users, "one of the user's chats was deleted")
      for (const id of listDeletedIds(stack.calls())) assert.ok(!userIds.includes(id), `the user's session ${id} was deleted`)
      for (const id of userIds) assert.ok(stack.sim.state.sessions.has(id))
    })

    test("when the user's own chats fill the cap: a clear error that counts them, and nothing deleted", async (t) => {
      const stack = await startStack({ stopAfter: t, simulator: { sessionCap: 6 } })
      for (let i = 0; i < 4; i++) stack.sim.state.createSession('demo', { name: `Chat ${i}`, model: 'gpt-4.1', temperature: 0.7, maxToken: 0, presencePenalty: 0, frequencyPenalty: 0, contextCount: 4 })
      const before = [...stack.sim.state.sessions.keys()].sort()
      assert.equal(before.length, 6)

      const response = await postPrompt(stack, 'no room')
      assert.equal(response.status, 409)
      const body = (await response.json()) as ErrorBody
      assert.equal(body.error.type, 'xipu_session_cap')
      assert.equal(body.error.code, 'session_cap_reached')
      assert.match(body.error.message, /holds 6/)
      assert.match(body.error.message, /6 (of them )?are your own web chats/)
      assert.match(body.error.message, /Delete some (of your )?chats/)
      assert.deepEqual([...stack.sim.state.sessions.keys()].sort(), before)
      assert.equal(stack.calls({ endpoint: 'delSession' }).length, 0, 'something was deleted')
    })

    test("a fresh session of another adapter (maybe still in use) is not swept", async (t) => {
      const stack = await startStack({ stopAfter: t, simulator: { sessionCap: 4 } })
      // Named like the adapter's and just created: a live request elsewhere may be using it.
      const live = stack.sim.state.createSession('demo', { name: createSessionName(), model: 'gpt-4.1', temperature: 0.7, maxToken: 0, presencePenalty: 0, frequencyPenalty: 0, contextCount: 4 }).id
      const orphan = seedOrphans(stack.sim, 1)[0]!
      const reply = await stack.openai.chat.completions.create({ model: 'gpt-4.1', messages: [{ role: 'user', content: 'squeeze' }] })
      assert.ok(reply.choices[0]?.message.content)
      assert.equal(stack.sim.state.sessions.has(orphan), false)
      assert.equal(stack.sim.state.sessions.has(live), true)
    })
  })

  describe('SIGINT and SIGTERM: stop accepting, let streams finish, delete their sessions, exit', () => {
    /** A simulator in this process and a real `adapter.ts` process in front of it. */
    async function startProcessStack(t: TestContext, env: Record<string, string> = {}) {
      const { sim, dir, env: simEnv } = await startSimulatorForProcess(t, { minGapMs: GAP_MS, seedWebChats: WEB_CHATS })
      const proc = await spawnAdapter(t, { ...simEnv, XIPU_MIN_GAP_MS: String(GAP_MS), ...env }, dir)
      await waitForHealth(proc)
      return { sim, proc, stateDir: simEnv.XIPU_STATE_DIR }
    }

    /** Starts a stream and resolves once its first content has arrived. */
    async function startStream(proc: AdapterProcess, content: string) {
      const response = await fetch(`${proc.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'gpt-4.1', stream: true, messages: [{ role: 'user', content }] }),
      })
      assert.equal(response.status, 200)
      const events = readSseData(response.body!)
      const seen: string[] = []
      // next() rather than for…of: leaving a for…of would close the stream.
      for (;;) {
        const { value, done } = await events.next()
        if (done) break
        seen.push(value)
        if (/"content":"[^"]/.test(value)) break
      }
      return { events, seen }
    }

    async function readRest(stream: Awaited<ReturnType<typeof startStream>>): Promise<{ seen: string[]; broke?: string }> {
      try {
        for await (const data of stream.events) stream.seen.push(data)
        return { seen: stream.seen }
      } catch (error) {
        return { seen: stream.seen, broke: (error as Error).message }
      }
    }

    function contentOf(seen: string[]): string {
      return seen
        .filter((d) => d !== '[DONE]')
        .map((d) => (JSON.parse(d) as { choices?: Array<{ delta: { content?: string } }> }).choices?.[0]?.delta.content ?? '')
        .join('')
    }

    test('SIGTERM: a stream in flight finishes in full, its session is deleted, then a clean exit', async (t) => {
      const { sim, proc, stateDir } = await startProcessStack(t)
      // About a second and a half of answer: well inside the five-second grace.
      const stream = await startStream(proc, '[[sim:slow=15]] finish me')
      const id = lastCompletionSession(sim)

      proc.child.kill('SIGTERM')
      await waitFor('the adapter to begin its shutdown', async () => {
        try {
          const health = (await (await fetch(`${proc.url}/health`)).json()) as { status: string }
          return health.status === 'shutting_down'
        } catch {
          return true
        }
      })
      // Stop accepting: a new request is refused (connection refused, or 503 while closing).
      await waitFor('new requests to be refused', async () => {
        try {
          const late = await fetch(`${proc.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', connection: 'close' }, body: JSON.stringify({ model: 'gpt-4.1', messages: [{ role: 'user', content: 'too late' }] }) })
          await late.body?.cancel()
          return late.status === 503
        } catch {
          return true
        }
      })

      const rest = await readRest(stream)
      assert.equal(rest.broke, undefined, `the stream broke: ${rest.broke}`)
      assert.equal(rest.seen.at(-1), '[DONE]')
      assert.equal(contentOf(rest.seen), 'Echo from gpt-4.1: finish me | turns 1, history 0 | 你好🌏')

      assert.equal(await proc.exited, 0, proc.output())
      // Deleted before the exit: the simulator deletes nothing by itself.
      assert.equal(sim.state.sessions.has(id), false, `session ${id} outlived the adapter`)
      assert.deepEqual(listAdapterSessions(sim), [], 'the adapter left sessions behind (the ready one too)')
      assert.ok(!sim.state.calls.some((c) => JSON.stringify(c.body ?? '').includes('too late')), 'a request after SIGTERM reached the platform')
      assert.deepEqual(readdirSync(join(stateDir, 'journal')), [], 'the journal still names sessions')
      assert.match(proc.output(), /SIGTERM/)
    })

    test('SIGINT: a stream that outlasts the grace is ended, its session still deleted before exit', { timeout: 60_000 }, async (t) => {
      const { sim, proc, stateDir } = await startProcessStack(t, { XIPU_IDLE_TIMEOUT_MS: '120000' })
      const stream = await startStream(proc, '[[sim:stall-after=3]] never ends')
      const id = lastCompletionSession(sim)

      proc.child.kill('SIGINT')
      const rest = await readRest(stream)
      assert.notEqual(rest.seen.at(-1), '[DONE]', 'a stalled stream cannot have finished')

      assert.equal(await proc.exited, 0, proc.output())
      assert.equal(sim.state.sessions.has(id), false, `session ${id} outlived the adapter`)
      assert.deepEqual(listAdapterSessions(sim), [])
      assert.equal(sim.state.streamsOpen, 0, 'the upstream stream was left open')
      assert.deepEqual(readdirSync(join(stateDir, 'journal')), [])
      assert.deepEqual([...sim.state.sessions.values()].map((s) => s.name).sort(), [...WEB_CHATS].sort())
    })
  })
})
