/**
 * The one queue that spaces every call to the platform. XIPU limits how often
 * one user calls its API at all, across every endpoint (HTTP 429 "Request too
 * fast"), so the start of each call, of every kind and from every request,
 * waits until at least `minGapMs` have passed since the start of the one
 * before. The original adapter's fixed sleep failed as soon as two clients
 * overlapped; one FIFO queue cannot.
 *
 * Three priorities: `request` (calls a client is waiting for), `cleanup`
 * (deletes: they must happen soon, not first) and `idle` (preparing a session
 * for the next request: only when nothing else waits). Among requests, the
 * follow-up calls of a request that already made one (its completion after
 * its saveSession, a retry) go before the first calls of newer requests: a
 * burst then answers its requests one after another from the first gap on,
 * instead of creating every session before any answer starts, and holds
 * fewer sessions open against the platform's cap. A cleanup call that waited
 * longer than `agingMs` is served as a new request, so deletes never starve.
 */
import { XipuError } from '../errors.ts'

// Calls are timed here, but the platform times their arrival; a small margin
// absorbs event-loop and network jitter so that "exactly the gap" never lands
// a hair under it.
const PACE_MARGIN_MS = 15
// How often the stall watch looks at the clock while a gap runs (see _createStallWatch).
const STALL_BEAT_MS = 10

export type Priority = 'request' | 'cleanup' | 'idle'

export interface PacerOptions {
  /** Gap between the starts of two calls, in ms; read at every call so a changed setting applies. */
  minGapMs: () => number
  /** `request` calls allowed to wait at once; one more is refused with E_QUEUE_FULL (default 64). */
  queueMax?: () => number
  /** Longest a `request` call may wait for its turn, in ms (default 120000). */
  queueTimeoutMs?: () => number
  /** A `cleanup` call waiting this long is served as a request (default 10000). */
  agingMs?: number
  /** Called at the start of every call (the keepalive uses it to keep its calls apart). */
  onCall?: (label: string) => void
}

export interface Turn {
  priority?: Priority
  signal?: AbortSignal
  /** Names the call in logs and errors: `saveSession`, `completions`, … */
  label?: string
  /**
   * The client request this call serves (default: `signal`). Its later calls are
   * follow-ups however their signal is built: a completion's signal also ends at
   * shutdown (`AbortSignal.any`), a new object each time, yet it is the same request.
   */
  owner?: object
  /** Ranks with follow-ups, before new requests: deletes that free room under the session cap. */
  urgent?: boolean
}

interface _Waiter {
  priority: Priority
  /** A later call of a request that already made one. */
  followUp: boolean
  label: string
  enqueuedAt: number
  resolve: () => void
  reject: (error: unknown) => void
  cleanup: () => void
}

// Follow-up requests rank 0, new requests 1 (see _rank).
const _RANK: Record<Priority, number> = { request: 1, cleanup: 2, idle: 3 }

/**
 * @example
 * const pacer = createPacer({ minGapMs: () => 1000 })
 * const reply = await pacer.run(() => fetch(url), { label: 'config' })
 */
export function createPacer(options: PacerOptions) {
  const queue: _Waiter[] = []
  const agingMs = options.agingMs ?? 10_000
  // The gap counts from here: the latest call's start, or its arrival once known.
  let lastStartAt = Number.NEGATIVE_INFINITY
  // The latest call's start as its turn came (it names the call), and when its reply came.
  let latestStart = Number.NEGATIVE_INFINITY
  let answeredAt: number | undefined
  let timer: NodeJS.Timeout | undefined
  const stalls = _createStallWatch(() => queue.length > 0 || performance.now() < lastStartAt + options.minGapMs() + PACE_MARGIN_MS)
  let calls = 0
  // Requests (by their owner, default their client's signal) that got past the bound once. Their later calls
  // (completions after saveSession, retries) are never refused, which would waste the
  // session they already made, and are served first. The bound is on new requests only.
  const admitted = new WeakSet<object>()

  /** Follow-ups first; a cleanup call that waited `agingMs` ranks as a new request. */
  function _rank(waiter: _Waiter, now: number): number {
    if (waiter.followUp) return 0
    return waiter.priority === 'cleanup' && now - waiter.enqueuedAt >= agingMs ? _RANK.request : _RANK[waiter.priority]
  }

  function _next(now: number): _Waiter | undefined {
    let best: _Waiter | undefined
    let bestRank = Number.POSITIVE_INFINITY
    for (const waiter of queue) {
      const rank = _rank(waiter, now)
      // Strictly better rank wins; equal ranks keep arrival order (FIFO).
      if (rank < bestRank) {
        best = waiter
        bestRank = rank
      }
    }
    return best
  }

  function _pump(): void {
    if (timer || queue.length === 0) return
    const now = performance.now()
    const wait = lastStartAt + stalls.stalledSince(lastStartAt, answeredAt) + options.minGapMs() + PACE_MARGIN_MS - now
    if (wait > 0) {
      timer = setTimeout(() => {
        timer = undefined
        _pump()
      }, wait)
      return
    }
    const waiter = _next(now)
    if (!waiter) return
    queue.splice(queue.indexOf(waiter), 1)
    waiter.cleanup()
    lastStartAt = now
    latestStart = now
    answeredAt = undefined
    stalls.watch()
    calls++
    options.onCall?.(waiter.label)
    waiter.resolve()
    // The next turn is at least a gap away; schedule it now.
    _pump()
  }

  /** Waits for this call's turn. Resolve means: start the call now. */
  function waitTurn(turn: Turn = {}): Promise<void> {
    const priority = turn.priority ?? 'request'
    const label = turn.label ?? 'call'
    if (turn.signal?.aborted) return Promise.reject(new XipuError('E_ABORTED', `${label}: the client went away`))
    const owner = turn.owner ?? turn.signal
    const followUp = priority === 'request' && !!owner && admitted.has(owner)
    // Only new requests are refused: one already admitted is never refused halfway.
    const full = priority === 'request' && !followUp ? _queueFullError() : undefined
    if (full) return Promise.reject(full)
    if (priority === 'request' && owner) admitted.add(owner)
    return _enqueue(priority, followUp || !!turn.urgent, label, turn.signal)
  }

  /** `E_QUEUE_FULL` (with a Retry-After for the queue to drain) when XIPU_QUEUE_MAX requests already wait. */
  function _queueFullError(): XipuError | undefined {
    const waiting = queue.filter((w) => w.priority === 'request').length
    const max = options.queueMax?.() ?? 64
    if (waiting < max) return undefined
    const retryAfter = Math.max(1, Math.ceil(((waiting + 1) * options.minGapMs()) / 1000))
    return new XipuError('E_QUEUE_FULL', `${waiting} requests are already waiting for the platform (XIPU_QUEUE_MAX=${max}). Retry in ${retryAfter} s.`, { retryAfter })
  }

  /** Queues a waiter; it leaves the queue on its turn, on abort, or (requests) after XIPU_QUEUE_TIMEOUT_MS. */
  function _enqueue(priority: Priority, followUp: boolean, label: string, signal?: AbortSignal): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const timeoutMs = options.queueTimeoutMs?.() ?? 120_000
      const timeout =
        priority === 'request'
          ? setTimeout(() => {
              _remove(waiter)
              reject(new XipuError('E_QUEUE_TIMEOUT', `${label} waited ${Math.round(timeoutMs / 1000)} s for its turn at the platform (XIPU_QUEUE_TIMEOUT_MS). The adapter is overloaded: retry later.`, { retryAfter: 5 }))
            }, timeoutMs)
          : undefined
      const onAbort = () => {
        _remove(waiter)
        reject(new XipuError('E_ABORTED', `${label}: the client went away`))
      }
      const waiter: _Waiter = {
        priority,
        followUp,
        label,
        enqueuedAt: performance.now(),
        resolve,
        reject,
        cleanup: () => {
          clearTimeout(timeout)
          signal?.removeEventListener('abort', onAbort)
        },
      }
      signal?.addEventListener('abort', onAbort, { once: true })
      queue.push(waiter)
      _pump()
    })
  }

  function _remove(waiter: _Waiter): void {
    const index = queue.indexOf(waiter)
    if (index !== -1) queue.splice(index, 1)
    waiter.cleanup()
  }

  return {
    waitTurn,
    /** Runs `fn` when its turn comes. */
    async run<T>(fn: () => Promise<T>, turn: Turn = {}): Promise<T> {
      await waitTurn(turn)
      return fn()
    },
    /** Calls waiting, by priority. */
    depth(): Record<Priority, number> {
      const out: Record<Priority, number> = { request: 0, cleanup: 0, idle: 0 }
      for (const w of queue) out[w.priority]++
      return out
    },
    /** Whether nothing is waiting (an idle-priority task may go). */
    isIdle: () => queue.length === 0,
    /** How many calls have started. */
    callCount: () => calls,
    /** When the last call started (`performance.now()` time), or -Infinity. */
    lastStartAt: () => lastStartAt,
    /**
     * The call that started at `startedAt` reached the platform by `at` (default
     * now): its request was written out, or its reply came. A call on a cold
     * connection can arrive well after its turn, and the next one on a warm
     * connection right on time, too close to it. So while it is still the latest
     * call, the gap counts from `at`.
     */
    noteArrival(startedAt: number, at = performance.now()): void {
      if (startedAt === latestStart && at > lastStartAt) lastStartAt = at
    },
    /**
     * The platform answered the call that started at `startedAt`: it has
     * stamped the call's arrival by now, so while it is still the latest call,
     * this process standing still from here on cannot bring the next call too
     * close to it, and no longer lengthens the gap.
     */
    noteAnswered(startedAt: number): void {
      if (startedAt === latestStart) answeredAt ??= performance.now()
    },
    /** Rejects every waiting call (shutdown). */
    rejectAll(error: unknown): void {
      for (const waiter of queue.splice(0)) {
        waiter.cleanup()
        waiter.reject(error)
      }
      if (timer) clearTimeout(timer)
      timer = undefined
      stalls.stop()
    },
  }
}

/**
 * Measures how long this process stood still (a busy event loop, a descheduled
 * process) while a gap runs. A platform in this same process (the simulator:
 * the demo and the tests) only stamps a call's arrival when the process runs
 * again, so a call sent just before a stall of 100 ms arrives 100 ms late by
 * its clock; the gap to the next call is lengthened by the time stood still
 * before the platform answered the call. Stalls after the answer do not count:
 * the arrival was stamped by then, and on a loaded machine a 10 ms beat is
 * late by a few ms all the time, which summed would stretch every gap.
 * A platform elsewhere loses nothing but those few ms.
 */
function _createStallWatch(needed: () => boolean) {
  // [when it ended, how long it lasted] for each stall, oldest first.
  const stalls: Array<[number, number]> = []
  let beat: NodeJS.Timeout | undefined
  let lastBeatAt = 0

  function _beat(): void {
    const now = performance.now()
    const late = now - lastBeatAt - STALL_BEAT_MS
    lastBeatAt = now
    if (late > 1) stalls.push([now, late])
    if (!needed()) stop()
  }

  function stop(): void {
    if (beat) clearInterval(beat)
    beat = undefined
  }

  return {
    /** Watches from now on (a call just started), until nothing waits and the gap is over. */
    watch(): void {
      if (beat) return
      lastBeatAt = performance.now()
      // Unref'd: a waiting call keeps the process alive by its own timer, not by this one.
      beat = setInterval(_beat, STALL_BEAT_MS).unref()
    },
    /**
     * Time stood still since `since`, in ms (older stalls are forgotten); with
     * `until`, only stalls that began before it (the platform had stamped the
     * call by then: later stalls, or a loaded machine's timer jitter, could not
     * make it arrive late).
     */
    stalledSince(since: number, until?: number): number {
      while (stalls.length > 0 && stalls[0]![0] <= since) stalls.shift()
      const began = (end: number, late: number) => until === undefined || end - late < until
      // A stall that only just ended, seen by a timer that fired before the next beat.
      const now = performance.now()
      const pending = beat && now - lastBeatAt > STALL_BEAT_MS + 1 ? now - lastBeatAt - STALL_BEAT_MS : 0
      let total = pending > 0 && began(now, pending) ? pending : 0
      for (const [end, late] of stalls) if (began(end, late)) total += late
      return total
    },
    stop,
  }
}

export type Pacer = ReturnType<typeof createPacer>
