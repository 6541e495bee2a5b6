/**
 * The pacer with real timers: the gap between the starts of calls, FIFO order
 * within a priority, a request's follow-ups before newer requests, request
 * before cleanup before idle, aging of cleanups,
 * aborts, the queue bound and timeout, and shutdown. Gaps are asserted as
 * lower bounds only (correctness); how fast it goes is the benchmark's job.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { XipuError } from '../lib/errors.ts'
import { createPacer, type Priority } from '../lib/xipu/pacer.ts'

function isCode(code: string) {
  return (error: unknown) => error instanceof XipuError && error.code === code
}

/** Holds the pacer's turn with a first call, so that what is queued next waits together. */
async function busyPacer(gapMs: number, extra: Partial<Parameters<typeof createPacer>[0]> = {}) {
  const pacer = createPacer({ minGapMs: () => gapMs, ...extra })
  await pacer.waitTurn({ label: 'first' })
  return pacer
}

describe('pacer', () => {
  test('spaces the starts of calls at least the gap apart, even when all are queued at once', async () => {
    const pacer = createPacer({ minGapMs: () => 60 })
    const starts: number[] = []
    await Promise.all(Array.from({ length: 6 }, () => pacer.run(async () => void starts.push(performance.now()))))
    assert.equal(starts.length, 6)
    for (let i = 1; i < starts.length; i++) assert.ok(starts[i]! - starts[i - 1]! >= 60, `gap ${i}: ${(starts[i]! - starts[i - 1]!).toFixed(1)} ms`)
    assert.equal(pacer.callCount(), 6)
  })

  test('counts the gap from the last start, also for calls that come later one by one', async () => {
    const pacer = createPacer({ minGapMs: () => 50 })
    const starts: number[] = []
    for (let i = 0; i < 3; i++) {
      await pacer.waitTurn()
      starts.push(performance.now())
      await new Promise((r) => setTimeout(r, 10))
    }
    for (let i = 1; i < starts.length; i++) assert.ok(starts[i]! - starts[i - 1]! >= 50)
  })

  test('reads the gap at every call, so a changed setting applies', async () => {
    let gap = 10
    const pacer = createPacer({ minGapMs: () => gap })
    await pacer.waitTurn()
    gap = 120
    const before = performance.now()
    await pacer.waitTurn()
    assert.ok(performance.now() - before >= 100)
  })

  test('keeps arrival order within a priority', async () => {
    const pacer = await busyPacer(20)
    const order: number[] = []
    await Promise.all(Array.from({ length: 6 }, (_, i) => pacer.waitTurn().then(() => order.push(i))))
    assert.deepEqual(order, [0, 1, 2, 3, 4, 5])
  })

  test("serves a request's follow-up call before the first calls of newer requests", async () => {
    const pacer = await busyPacer(20)
    const order: string[] = []
    const requests = ['a', 'b', 'c'].map((name) => ({ name, signal: new AbortController().signal }))
    // Each request: a first call (saveSession), then a follow-up (completions) once that started.
    await Promise.all(
      requests.map(async ({ name, signal }) => {
        await pacer.waitTurn({ signal, label: `${name}1` })
        order.push(`${name}1`)
        await pacer.waitTurn({ signal, label: `${name}2` })
        order.push(`${name}2`)
      }),
    )
    // FIFO per call would give a1 b1 c1 a2 b2 c2: every session before any answer.
    assert.deepEqual(order, ['a1', 'a2', 'b1', 'b2', 'c1', 'c2'])
  })

  test("knows a follow-up by its owner when its signal is another one (the client's, joined with shutdown's)", async () => {
    const pacer = await busyPacer(20)
    const order: string[] = []
    const shutdown = new AbortController().signal
    const requests = ['a', 'b'].map((name) => ({ name, signal: new AbortController().signal }))
    await Promise.all(
      requests.map(async ({ name, signal }) => {
        await pacer.waitTurn({ signal, label: `${name}1` })
        order.push(`${name}1`)
        await pacer.waitTurn({ signal: AbortSignal.any([signal, shutdown]), owner: signal, label: `${name}2` })
        order.push(`${name}2`)
      }),
    )
    assert.deepEqual(order, ['a1', 'a2', 'b1', 'b2'])
  })

  test('counts the gap from when the latest call reached the platform, when that was after its start', async () => {
    const pacer = createPacer({ minGapMs: () => 50 })
    await pacer.waitTurn()
    const startedAt = pacer.lastStartAt()
    await new Promise((r) => setTimeout(r, 40))
    // A cold connection: the call reached the platform some 40 ms after its turn.
    const arrived = performance.now()
    pacer.noteArrival(startedAt, arrived)
    assert.equal(pacer.lastStartAt(), arrived, 'the reference moved to the arrival')
    await pacer.waitTurn()
    assert.ok(performance.now() - arrived >= 50, `${(performance.now() - arrived).toFixed(1)} ms after the arrival`)
    // Only the latest call moves the reference: an older one's arrival changes nothing.
    const latest = pacer.lastStartAt()
    pacer.noteArrival(startedAt)
    assert.equal(pacer.lastStartAt(), latest)
  })

  test('a stall of this process lengthens the gap by the time it stood still', async () => {
    const pacer = createPacer({ minGapMs: () => 200 })
    await pacer.waitTurn()
    const next = pacer.waitTurn()
    // A call went out, then the process stood still: a platform in this process (the
    // simulator) only now stamps its arrival, so the next call must keep the gap from here.
    const until = performance.now() + 300
    while (performance.now() < until) void 0
    const resumedAt = performance.now()
    await next
    assert.ok(performance.now() - resumedAt >= 200, `${(performance.now() - resumedAt).toFixed(1)} ms after the process ran again`)
  })

  test('once the platform answered, the process standing still no longer lengthens the gap', async () => {
    const standStill = (ms: number) => {
      const until = performance.now() + ms
      while (performance.now() < until) void 0
      return performance.now()
    }
    // Still before the answer: the platform may have stamped the call late, so the gap counts from the stall's end.
    const before = createPacer({ minGapMs: () => 200 })
    await before.waitTurn()
    const first = before.lastStartAt()
    const afterFirst = before.waitTurn()
    const resumed = standStill(300)
    before.noteAnswered(first)
    await afterFirst
    assert.ok(performance.now() - resumed >= 200, `${(performance.now() - resumed).toFixed(1)} ms after the process ran again`)

    // Still after the answer (a loaded machine): the stamp was already made, the gap counts from the call.
    const after = createPacer({ minGapMs: () => 200 })
    await after.waitTurn()
    after.noteAnswered(after.lastStartAt())
    const afterAnswer = after.waitTurn()
    const resumedLate = standStill(300)
    await afterAnswer
    assert.ok(performance.now() - resumedLate < 190, `${(performance.now() - resumedLate).toFixed(1)} ms after the process ran again: the gap was over`)
  })

  test('serves requests before cleanups before idle work, whatever the arrival order', async () => {
    const pacer = await busyPacer(20)
    const order: string[] = []
    const queue = (priority: Priority, name: string) => pacer.waitTurn({ priority }).then(() => order.push(name))
    const all = [queue('idle', 'idle-1'), queue('cleanup', 'cleanup-1'), queue('request', 'request-1'), queue('idle', 'idle-2'), queue('cleanup', 'cleanup-2'), queue('request', 'request-2')]
    assert.deepEqual(pacer.depth(), { request: 2, cleanup: 2, idle: 2 })
    assert.equal(pacer.isIdle(), false)
    await Promise.all(all)
    assert.deepEqual(order, ['request-1', 'request-2', 'cleanup-1', 'cleanup-2', 'idle-1', 'idle-2'])
    assert.equal(pacer.isIdle(), true)
  })

  test('a cleanup that waited past agingMs goes as a request (deletes never starve)', async () => {
    const pacer = await busyPacer(40, { agingMs: 0 })
    const order: string[] = []
    const cleanup = pacer.waitTurn({ priority: 'cleanup' }).then(() => order.push('cleanup'))
    const request = pacer.waitTurn({ priority: 'request' }).then(() => order.push('request'))
    await Promise.all([cleanup, request])
    assert.deepEqual(order, ['cleanup', 'request'])
  })

  test('an aborted waiter is rejected with E_ABORTED and gives its turn away', async () => {
    const pacer = await busyPacer(50)
    const controller = new AbortController()
    const order: string[] = []
    const leaving = pacer.waitTurn({ signal: controller.signal, label: 'saveSession' })
    const staying = pacer.waitTurn().then(() => order.push('staying'))
    controller.abort()
    await assert.rejects(leaving, (e: unknown) => isCode('E_ABORTED')(e) && /saveSession/.test((e as Error).message))
    await staying
    assert.deepEqual(order, ['staying'])
    assert.equal(pacer.callCount(), 2, 'the aborted call never started')
    await assert.rejects(pacer.waitTurn({ signal: controller.signal }), isCode('E_ABORTED'), 'an already aborted signal is refused at once')
  })

  test('refuses a request beyond queueMax with E_QUEUE_FULL and a retry-after; cleanups are not bounded', async () => {
    const pacer = await busyPacer(30, { queueMax: () => 2 })
    const waiting = [pacer.waitTurn(), pacer.waitTurn()]
    await assert.rejects(pacer.waitTurn(), (e: unknown) => isCode('E_QUEUE_FULL')(e) && (e as XipuError).retryAfter! >= 1)
    const cleanups = [pacer.waitTurn({ priority: 'cleanup' }), pacer.waitTurn({ priority: 'cleanup' }), pacer.waitTurn({ priority: 'cleanup' })]
    await Promise.all([...waiting, ...cleanups])
  })

  test('a request that waits longer than queueTimeoutMs gets E_QUEUE_TIMEOUT', async () => {
    const pacer = await busyPacer(400, { queueTimeoutMs: () => 30 })
    await assert.rejects(pacer.waitTurn({ label: 'completions' }), (e: unknown) => isCode('E_QUEUE_TIMEOUT')(e) && /completions/.test((e as Error).message))
    assert.equal(pacer.depth().request, 0, 'it left the queue')
    pacer.rejectAll(new Error('done'))
  })

  test('rejectAll rejects every waiting call (shutdown)', async () => {
    const pacer = await busyPacer(60_000)
    const waiting = [pacer.waitTurn(), pacer.waitTurn({ priority: 'cleanup' }), pacer.waitTurn({ priority: 'idle' })]
    const stop = new XipuError('E_SHUTTING_DOWN', 'bye')
    pacer.rejectAll(stop)
    for (const w of waiting) await assert.rejects(w, (e: unknown) => e === stop)
    assert.deepEqual(pacer.depth(), { request: 0, cleanup: 0, idle: 0 })
  })
})
