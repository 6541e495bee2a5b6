/**
 * Session reuse side by side (`XIPU_SESSION_REUSE` on and off), at the
 * platform's strict gap: a warm burst of 10, requests spaced like a person at
 * a chat client, and requests a minute under 4 clients that never stop. Also
 * counts 429s, history seen by a request that was not its own (every
 * sequential request asks the simulated model to recall what it was fed), and
 * the adapter's sessions left on the platform after it stopped.
 *
 * Targets with reuse on: at most 1.2 platform calls a request in the warm
 * burst, the burst within 1.3× one gap a request; at most 1.1 calls a request
 * in the sequential run; zero 429s, zero leaks, zero sessions left.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { isAdapterSessionName } from '../lib/sessions/names.ts'
import { startSimulator, type RunningSimulator } from '../lib/simulator/index.ts'

export interface ReuseBenchDeps {
  gapMs: number
  /** How long the 4 clients run (a minute by default). */
  sustainedMs: number
  startAdapter(sim: RunningSimulator, env: Record<string, string>): Promise<{ url: string; stop(): Promise<void> }>
  ask(adapter: { url: string }, prompt: string): Promise<{ totalMs: number; text: string }>
}

const BURST = 10
const SEQUENTIAL = 8
const CLIENTS = 4
const USERS = { demo: 'demo-password', bench: 'bench-password' }
const round = (x: number, digits = 2) => Math.round(x * 10 ** digits) / 10 ** digits

/** One mode's measures. */
async function _measure(deps: ReuseBenchDeps, reuse: boolean) {
  const sim = await startSimulator({ minGapMs: deps.gapMs, users: USERS, seedWebChats: ['My own web chat'] })
  const adapter = await deps.startAdapter(sim, { XIPU_MIN_GAP_MS: String(deps.gapMs), XIPU_SESSION_REUSE: reuse ? '1' : '0', XIPU_QUEUE_MAX: '64' })
  const settle = () => sleep(3 * deps.gapMs)
  const burst = () => Promise.all(Array.from({ length: BURST }, (_, i) => deps.ask(adapter, `burst ${i}`)))
  let stopped = false
  try {
    // Warm: the adapter has served a burst before (its pool, or its ready session, is there).
    await burst()
    await settle()
    let since = sim.state.calls.length
    const started = performance.now()
    await burst()
    const burstMs = performance.now() - started
    await settle()
    const burstCalls = sim.state.calls.length - since

    // Like a person: a request, the answer read, a pause, the next.
    since = sim.state.calls.length
    let leaks = 0
    for (let i = 0; i < SEQUENTIAL; i++) {
      const { text } = await deps.ask(adapter, `sequential ${i}: what came before? [[sim:recall]]`)
      if (text !== 'Recall: nothing') leaks++
      await sleep(2 * deps.gapMs)
    }
    await settle()
    const sequentialCalls = sim.state.calls.length - since

    // Sustained: 4 clients, each sending its next request as soon as the last is answered.
    const from = performance.now()
    const until = from + deps.sustainedMs
    let answered = 0
    await Promise.all(
      Array.from({ length: CLIENTS }, async (_, c) => {
        for (let i = 0; performance.now() < until; i++) {
          await deps.ask(adapter, `client ${c} request ${i}`)
          answered++
        }
      }),
    )
    // Over the time it took, the answers that came after the deadline included.
    const perMinute = (answered / (performance.now() - from)) * 60_000

    await adapter.stop()
    stopped = true
    const left = [...sim.state.sessions.values()].filter((s) => isAdapterSessionName(s.name)).length
    return {
      warmBurst: { requests: BURST, ms: Math.round(burstMs), gapsPerRequest: round(burstMs / (BURST * deps.gapMs)), callsPerRequest: round(burstCalls / BURST) },
      sequential: { requests: SEQUENTIAL, callsPerRequest: round(sequentialCalls / SEQUENTIAL), leaks },
      sustained: { clients: CLIENTS, seconds: round(deps.sustainedMs / 1000, 0), answered, requestsPerMinute: round(perMinute, 1) },
      platform429s: sim.state.rateLimited,
      sessionsLeft: left,
    }
  } finally {
    if (!stopped) await adapter.stop()
    await sim.close()
  }
}

/**
 * @example
 * const results = await benchReuse({ gapMs: 1000, sustainedMs: 60_000, startAdapter, ask })
 */
export async function benchReuse(deps: ReuseBenchDeps) {
  const on = await _measure(deps, true)
  const off = await _measure(deps, false)
  const met =
    on.warmBurst.callsPerRequest <= 1.2 &&
    on.warmBurst.gapsPerRequest <= 1.3 &&
    on.sequential.callsPerRequest <= 1.1 &&
    [on, off].every((m) => m.platform429s === 0 && m.sessionsLeft === 0 && m.sequential.leaks === 0)
  return {
    gapMs: deps.gapMs,
    on,
    off,
    target: 'reuse on: warm burst ≤ 1.2 calls a request within 1.3× a gap a request; sequential ≤ 1.1 calls a request; zero 429s, leaks and sessions left',
    met,
  }
}

export type ReuseResults = Awaited<ReturnType<typeof benchReuse>>

/** The README's rows: one a measure, reuse on beside reuse off. */
export function formatReuseRows(r: ReuseResults): Array<[string, string, string]> {
  const s = (x: number, unit = 's') => `${round(x / 1000, 1)} ${unit}`
  return [
    [`warm burst of ${BURST}: time to the last answer`, s(r.on.warmBurst.ms), s(r.off.warmBurst.ms)],
    ['warm burst: platform calls a request', String(r.on.warmBurst.callsPerRequest), String(r.off.warmBurst.callsPerRequest)],
    ['warm burst: gaps a request', String(r.on.warmBurst.gapsPerRequest), String(r.off.warmBurst.gapsPerRequest)],
    ['requests one by one: platform calls a request', String(r.on.sequential.callsPerRequest), String(r.off.sequential.callsPerRequest)],
    [`${CLIENTS} clients for ${r.on.sustained.seconds} s: requests a minute`, String(r.on.sustained.requestsPerMinute), String(r.off.sustained.requestsPerMinute)],
    ['429s / history leaks / sessions left after shutdown', `${r.on.platform429s} / ${r.on.sequential.leaks} / ${r.on.sessionsLeft}`, `${r.off.platform429s} / ${r.off.sequential.leaks} / ${r.off.sessionsLeft}`],
  ]
}
