/**
 * The session lifecycle as the platform sees it: whatever happens to a
 * request (success, an error, the client going away mid-stream), the adapter
 * leaves no session of its own on the platform (beyond its pooled ones, which
 * test/session-pool.test.ts covers), closes the upstream stream, and never
 * touches the user's own web chats, not even at the session cap. The
 * per-request lifecycle is the one of XIPU_SESSION_REUSE=0.
 */
import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { format } from 'node:util'
import { createConsola } from 'consola'
import { after, before, describe, test } from 'node:test'
import OpenAI from 'openai'
import { createChatPipeline } from '../lib/chat/pipeline.ts'
import { parseChatRequest } from '../lib/openai/request.ts'
import { createSessionName } from '../lib/sessions/names.ts'
import { startStack, type Stack } from './support/harness.ts'
import { waitFor } from './support/wait-for.ts'

const ok = [{ role: 'user' as const, content: 'hi' }]
// A bound on a hang, not a speed check.
const SETTLE_TIMEOUT_MS = 30_000

describe('one request, one session, deleted afterwards', () => {
  let stack: Stack
  before(async () => {
    // One fresh session a request: the lifecycle under test here.
    stack = await startStack({ gapMs: 120, reuse: false })
  })
  after(async () => {
    // After all of it, so that it cannot pass by running alone.
    try {
      assert.equal(stack.sim.state.rateLimited, 0, 'no 429 from the platform through all of it')
    } finally {
      await stack?.close()
    }
  })

  /** Runs `fn`, then checks that the platform holds only the web chats again and the journal is empty. */
  async function leavesNothing(fn: () => Promise<void>): Promise<void> {
    const since = stack.sim.state.calls.length
    await fn()
    await stack.waitForCleanPlatform()
    const created = stack.calls({ since }).filter((c) => c.endpoint === 'saveSession' && c.status === 200).length
    const deleted = stack.calls({ since }).filter((c) => c.endpoint === 'delSession' && c.status === 200).length
    assert.ok(created >= 1, 'a session was created')
    assert.equal(deleted, created, 'each session created was deleted')
    await waitFor(() => `journal: ${JSON.stringify(stack.adapter.journal.entries())}`, () => stack.adapter.journal.entries().length === 0, SETTLE_TIMEOUT_MS)
    assert.equal(existsSync(stack.adapter.journal.file), false, 'the journal file is gone once empty')
    assert.equal(stack.adapter.sessions.activeCount(), 0)
    assert.deepEqual([...stack.sim.state.sessions.values()].map((s) => s.name).sort(), [...stack.webChats].sort(), 'the web chats are untouched')
  }

  /** Waits until the platform's stream has closed, and checks that it was closed early: one abort more than `before`. */
  async function expectUpstreamAborted(before: number, message: string): Promise<void> {
    await waitFor(() => `upstream streams open: ${stack.sim.state.streamsOpen}`, () => stack.sim.state.streamsOpen === 0, SETTLE_TIMEOUT_MS)
    assert.equal(stack.sim.state.streamsAborted, before + 1, message)
  }

  test('after a non-streaming success', () =>
    leavesNothing(async () => {
      await stack.openai.chat.completions.create({ model: 'gpt-4.1', messages: ok })
    }))

  test('after a streaming success', () =>
    leavesNothing(async () => {
      const stream = await stack.openai.chat.completions.create({ model: 'gpt-4.1', messages: ok, stream: true })
      for await (const _ of stream);
    }))

  test('after a stop sequence ended the answer early', () =>
    leavesNothing(async () => {
      const stream = await stack.openai.chat.completions.create({ model: 'gpt-4.1', messages: [{ role: 'user', content: 'stop early [[sim:slow=5]]' }], stream: true, stop: 'Echo' })
      for await (const _ of stream);
    }))

  test('after an error event', () =>
    leavesNothing(async () => {
      const response = await stack.postChat({ model: 'gpt-4.1', messages: [{ role: 'user', content: '[[sim:error-after=2]]' }] })
      assert.equal(response.status, 502)
      await response.body?.cancel()
    }))

  test('after a truncated stream', () =>
    leavesNothing(async () => {
      const stream = await stack.openai.chat.completions.create({ model: 'gpt-4.1', messages: [{ role: 'user', content: '[[sim:truncate-after=3]]' }], stream: true })
      await assert.rejects(async () => {
        for await (const _ of stream);
      })
    }))

  test('after the platform refused the completion (HTTP 500, retried, then given up)', () =>
    leavesNothing(async () => {
      stack.sim.state.injectFault('completions', { kind: 'status', status: 500, times: 10 })
      try {
        const response = await stack.postChat({ model: 'gpt-4.1', messages: ok })
        assert.equal(response.status, 502)
        await response.body?.cancel()
      } finally {
        while (stack.sim.state.takeFault('completions')) {}
      }
    }))

  test('after the client disconnects mid-stream (SDK, AbortController): the upstream stream is closed too', () =>
    leavesNothing(async () => {
      const aborted = stack.sim.state.streamsAborted
      const controller = new AbortController()
      // Slow and long: the answer is far from over when the client leaves.
      const stream = await stack.openai.chat.completions.create(
        { model: 'gpt-4.1', messages: [{ role: 'user', content: 'talk slowly [[sim:long=20000]] [[sim:slow=20]]' }], stream: true },
        { signal: controller.signal },
      )
      let content = ''
      for await (const chunk of stream) {
        content += chunk.choices[0]?.delta.content ?? ''
        if (content.length > 10) {
          assert.equal(stack.sim.state.streamsOpen, 1, 'the upstream stream is open while the client reads')
          controller.abort()
        }
      }
      assert.ok(content.length < 20_000, 'the client left before the end')
      await expectUpstreamAborted(aborted, 'the platform saw its stream closed before the end')
    }))

  test('after the client disconnects mid-stream (raw fetch)', () =>
    leavesNothing(async () => {
      const aborted = stack.sim.state.streamsAborted
      const controller = new AbortController()
      const response = await stack.postChat(
        { model: 'gpt-4.1', messages: [{ role: 'user', content: 'fetch me slowly [[sim:long=20000]] [[sim:slow=20]]' }], stream: true },
        { signal: controller.signal },
      )
      assert.equal(response.status, 200)
      const reader = response.body!.getReader()
      let bytes = 0
      while (bytes < 2000) {
        const { value, done } = await reader.read()
        if (done) break
        bytes += value.byteLength
      }
      controller.abort()
      await reader.cancel().catch(() => {})
      await expectUpstreamAborted(aborted, 'the platform saw its stream closed before the end')
    }))

  test('after the client disconnects while the platform has gone silent (stall)', () =>
    leavesNothing(async () => {
      const aborted = stack.sim.state.streamsAborted
      const controller = new AbortController()
      const stream = await stack.openai.chat.completions.create(
        { model: 'gpt-4.1', messages: [{ role: 'user', content: 'stall [[sim:stall-after=3]]' }], stream: true },
        { signal: controller.signal },
      )
      const reading = (async () => {
        for await (const _ of stream);
      })()
      await waitFor('the completion to start', () => stack.sim.state.streamsOpen === 1 && stack.sim.state.calls.at(-1)?.endpoint === 'completions', SETTLE_TIMEOUT_MS)
      // Let a few pieces arrive, then leave.
      await new Promise((r) => setTimeout(r, 200))
      controller.abort()
      await reading.catch(() => {})
      await expectUpstreamAborted(aborted, 'the platform saw its stream closed')
    }))

  test('after the consumer gives up before its first read (the chat pipeline, as a client leaving as the response begins)', () =>
    leavesNothing(async () => {
      const aborted = stack.sim.state.streamsAborted
      // The adapter's own pipeline over its own client and sessions: the moment between the
      // platform answering and the first read cannot be hit reliably over HTTP.
      const chat = createChatPipeline({ client: stack.adapter.client, sessions: stack.adapter.sessions, log: stack.adapter.log })
      const opened = await chat.open(parseChatRequest({ model: 'gpt-4.1', messages: [{ role: 'user', content: 'never read [[sim:long=20000]] [[sim:slow=20]]' }] }))
      assert.equal(stack.sim.state.streamsOpen, 1)
      // An async generator's finally does not run on return() before its first next().
      await opened.events.return(undefined)
      await expectUpstreamAborted(aborted, 'the platform saw its stream closed')
    }))

  test('after the client of a non-streaming request disconnects while the answer is coming', () =>
    leavesNothing(async () => {
      const aborted = stack.sim.state.streamsAborted
      const controller = new AbortController()
      const pending = stack.openai.chat.completions.create(
        { model: 'gpt-4.1', messages: [{ role: 'user', content: 'wait for it [[sim:long=20000]] [[sim:slow=20]]' }] },
        { signal: controller.signal },
      )
      await waitFor('the completion to start', () => stack.sim.state.streamsOpen === 1, SETTLE_TIMEOUT_MS)
      controller.abort()
      await assert.rejects(pending, (error: unknown) => error instanceof OpenAI.APIUserAbortError)
      await expectUpstreamAborted(aborted, 'the platform saw its stream closed before the end')
    }))

  test('after the client disconnects before the platform answered its first byte', () =>
    leavesNothing(async () => {
      stack.sim.state.options.firstByteDelayMs = 1500
      try {
        const aborted = stack.sim.state.streamsAborted
        const controller = new AbortController()
        let content = ''
        const reading = (async () => {
          const stream = await stack.openai.chat.completions.create({ model: 'gpt-4.1', messages: ok, stream: true }, { signal: controller.signal })
          for await (const chunk of stream) content += chunk.choices[0]?.delta.content ?? ''
        })()
        await waitFor('the completion to start', () => stack.sim.state.streamsOpen === 1, SETTLE_TIMEOUT_MS)
        controller.abort()
        await assert.rejects(reading, (error: unknown) => error instanceof OpenAI.APIUserAbortError)
        assert.equal(content, '')
        await expectUpstreamAborted(aborted, 'the platform saw its stream closed before the first byte')
      } finally {
        stack.sim.state.options.firstByteDelayMs = 0
      }
    }))

})

test('a client that leaves mid-stream is logged once', async (t) => {
  const lines: string[] = []
  const log = createConsola({ level: 3, reporters: [{ log: (entry) => lines.push(format(...entry.args)) }] })
  const stack = await startStack({ stopAfter: t, log })
  const controller = new AbortController()
  const stream = await stack.openai.chat.completions.create(
    { model: 'gpt-4.1', messages: [{ role: 'user', content: 'leave early [[sim:long=20000]] [[sim:slow=20]]' }], stream: true },
    { signal: controller.signal },
  )
  let content = ''
  try {
    for await (const chunk of stream) {
      content += chunk.choices[0]?.delta.content ?? ''
      if (content.length > 10) controller.abort()
    }
  } catch (error) {
    if (!(error instanceof OpenAI.APIUserAbortError)) throw error
  }
  await stack.waitForCleanPlatform()
  // Both the response's cancel and the aborted platform read see the client go; one line says so.
  const requestLines = lines.filter((line) => line.startsWith('POST /v1/chat/completions'))
  assert.equal(requestLines.length, 1, requestLines.join('\n'))
  assert.match(requestLines[0]!, /client disconnected|client went away/)
})

describe('the session cap', () => {
  test('is met by sweeping the adapter\'s own orphans, never the web chats', async (t) => {
    const webChats = ['chat 1', 'chat 2', 'chat 3', 'chat 4']
    const stack = await startStack({ stopAfter: t, gapMs: 120, simulator: { sessionCap: 5, seedWebChats: webChats } })
    // An orphan of an adapter that crashed an hour ago: named by the adapter, in no live journal.
    const orphan = stack.sim.state.createSession('demo', {
      name: createSessionName(new Date(Date.now() - 3600_000)),
      model: 'gpt-4.1',
      temperature: 0.7,
      maxToken: 0,
      presencePenalty: 0,
      frequencyPenalty: 0,
      contextCount: 4,
    })

    const reply = await stack.openai.chat.completions.create({ model: 'gpt-4.1', messages: ok })
    assert.match(reply.choices[0]!.message.content ?? '', /^Echo from gpt-4\.1: hi/)
    await stack.waitForCleanPlatform()
    assert.equal(stack.sim.state.sessions.has(orphan.id), false, 'the orphan was swept')
    const pooled = new Set(stack.adapter.sessions.pool.freeIds())
    assert.deepEqual([...stack.sim.state.sessions.values()].filter((s) => !pooled.has(s.id)).map((s) => s.name).sort(), webChats, 'the web chats, and the pooled session')
    const deletes = stack.calls().filter((c) => c.endpoint === 'delSession')
    const webIds = new Set([...stack.sim.state.sessions.values()].map((s) => s.id))
    assert.ok(deletes.every((c) => (c.body as { ids: number[] }).ids.every((id) => !webIds.has(id))), 'no delete ever named a web chat')
  })

  test('full of web chats: 409 that says so, and the web chats stay', async (t) => {
    const webChats = ['a', 'b', 'c']
    const stack = await startStack({ stopAfter: t, gapMs: 120, simulator: { sessionCap: 3, seedWebChats: webChats } })
    const response = await stack.postChat({ model: 'gpt-4.1', messages: ok })
    assert.equal(response.status, 409)
    const { error } = (await response.json()) as { error: { message: string; code: string } }
    assert.equal(error.code, 'session_cap_reached')
    assert.match(error.message, /web chats/)
    await assert.rejects(stack.openai.chat.completions.create({ model: 'gpt-4.1', messages: ok }), (e: unknown) => e instanceof OpenAI.APIError && e.status === 409)
    assert.deepEqual([...stack.sim.state.sessions.values()].map((s) => s.name).sort(), webChats)
    assert.equal(stack.calls().filter((c) => c.endpoint === 'delSession').length, 0, 'nothing was deleted')
  })
})

describe('with the ready session on (XIPU_PREPARE_SESSION)', () => {
  test('only the ready session stays between requests, the next request is served in it with no history, and close() deletes it', async (t) => {
    // The ready session is the way of XIPU_SESSION_REUSE=0; the pool replaces it.
    const stack = await startStack({ stopAfter: t, gapMs: 120, readySession: true, reuse: false })

    for (const word of ['first', 'second', 'third']) {
      const readyBefore = stack.adapter.sessions.readyId()
      const since = stack.sim.state.calls.length
      const reply = await stack.openai.chat.completions.create({ model: 'gpt-4.1', messages: [{ role: 'user', content: word }] })
      // A reused session must never feed earlier turns back to the model.
      assert.equal(reply.choices[0]!.message.content, `Echo from gpt-4.1: ${word} | turns 1, history 0 | 你好🌏`)
      if (readyBefore !== undefined) {
        const completion = stack.calls({ since }).find((c) => c.endpoint === 'completions')
        assert.equal(Number((completion?.body as { sessionId?: unknown }).sessionId), readyBefore, 'served in the ready session')
      }
      // Settled: the platform holds no session of the adapter's but the ready one.
      await waitFor(
        () => `sessions beyond the web chats: ${JSON.stringify(stack.unseededSessions())}, ready: ${stack.adapter.sessions.readyId()}`,
        () => {
          const left = stack.unseededSessions()
          return stack.adapter.sessions.activeCount() === 0 && left.length === 1 && left[0]!.id === stack.adapter.sessions.readyId()
        },
        SETTLE_TIMEOUT_MS,
      )
    }

    await stack.close()
    assert.deepEqual(stack.unseededSessions(), [], 'close() deleted the ready session')
    assert.equal(stack.sim.state.rateLimited, 0)
  })
})
