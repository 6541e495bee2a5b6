/**
 * The doctor's way to the platform: the adapter's own client and pacer (so
 * every check goes out exactly as the adapter's calls do), one attempt per
 * call so that a 429 is seen rather than retried away, and a record of each
 * call: when it started, its raw reply, and what went wrong.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { isXipuError, XipuError } from '../errors.ts'
import { createCallStamper, readLastCallAt } from '../xipu/call-stamp.ts'
import { createXipuClient, type CallOptions, type XipuClient } from '../xipu/client.ts'
import { createPacer, type Pacer } from '../xipu/pacer.ts'
import type { Settings } from '../settings.ts'

// After a 429 the doctor waits this long (twice the usual gap) and tries once more.
const RATE_LIMIT_PAUSE_MS = 2000

export interface ProbeCall {
  label: string
  /** Start of the call, `performance.now()` time. */
  at: number
  ms: number
  outcome: 'ok' | 'rate-limited' | 'error'
  error?: string
}

export interface Probe {
  client: XipuClient
  pacer: Pacer
  calls: ProbeCall[]
  /**
   * One platform call through the pacer. A 429 is recorded, then tried once
   * more after a pause; any other failure is thrown as is. `onRaw` sees the reply as it came.
   */
  call<T>(label: string, run: (options: CallOptions) => Promise<T>, onRaw?: (raw: unknown) => void): Promise<T>
  /** The smallest gap between the starts of two calls, in ms (undefined for fewer than two). */
  smallestGap(): number | undefined
  /** How many 429s were met. */
  rateLimited(): number
}

/**
 * @example
 * const probe = createProbe(() => settings)
 * const models = await probe.call('config', (o) => probe.client.getCatalog(o))
 */
export function createProbe(settings: () => Settings): Probe {
  const starts: number[] = []
  const pacer = createPacer({
    minGapMs: () => settings().minGapMs,
    // The stamp tells a keepalive in another process that the account is busy.
    onCall: (() => {
      const stamp = createCallStamper(settings().stateDir)
      return (label: string) => {
        starts.push(performance.now())
        stamp(label)
      }
    })(),
  })
  const client = createXipuClient({ settings, pacer })
  const calls: ProbeCall[] = []

  async function call<T>(label: string, run: (options: CallOptions) => Promise<T>, onRaw?: (raw: unknown) => void): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      const before = starts.length
      const startedAt = performance.now()
      try {
        const result = await run({ retries: 0, onRaw })
        calls.push({ label, at: starts[before] ?? startedAt, ms: Math.round(performance.now() - startedAt), outcome: 'ok' })
        return result
      } catch (error) {
        const limited = isXipuError(error, 'E_RATE_LIMITED')
        calls.push({ label, at: starts[before] ?? startedAt, ms: Math.round(performance.now() - startedAt), outcome: limited ? 'rate-limited' : 'error', error: (error as Error).message })
        if (!limited || attempt > 0) throw error
        await sleep(RATE_LIMIT_PAUSE_MS)
      }
    }
  }

  return {
    client,
    pacer,
    calls,
    call,
    smallestGap() {
      let min: number | undefined
      for (let i = 1; i < starts.length; i++) min = Math.min(min ?? Infinity, starts[i]! - starts[i - 1]!)
      return min === undefined ? undefined : Math.round(min)
    },
    rateLimited: () => calls.filter((c) => c.outcome === 'rate-limited').length,
  }
}

/**
 * Waits until another process on this account (an adapter, a keepalive) has
 * been quiet for one gap, so that the doctor's first call cannot land right
 * after theirs and earn a 429 that is nobody's fault.
 */
export async function waitForQuietAccount(settings: Settings, signal?: AbortSignal): Promise<void> {
  const quietFor = Date.now() - readLastCallAt(settings.stateDir)
  const wait = settings.minGapMs - quietFor
  if (wait <= 0) return
  await sleep(wait, undefined, { signal }).catch(() => {
    throw new XipuError('E_ABORTED', 'the doctor was stopped')
  })
}
