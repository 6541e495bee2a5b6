/**
 * The "last call" stamp: when an adapter last called the platform, in a small
 * file in the state folder. The platform rate-limits the whole account, so a
 * keepalive running as a separate process reads it to stay out of the
 * adapter's way (it calls only once the adapter has been quiet for a while).
 */
import { mkdirSync, readFileSync, statSync } from 'node:fs'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'

// The stamp only needs to be right to about a second: a busy adapter calls
// about once a second, and writing on every call would be wasted disk work.
const WRITE_EVERY_MS = 1000

/** The stamp file of a state folder. */
export function callStampFile(stateDir: string): string {
  return join(stateDir, 'last-call')
}

/**
 * A pacer `onCall` hook that records the time of the latest call, writing at
 * most once per second (the last call of a burst is written a moment later).
 *
 * @example
 * const pacer = createPacer({ minGapMs: () => 1000, onCall: createCallStamper(stateDir) })
 */
export function createCallStamper(stateDir: string): (label?: string) => void {
  const file = callStampFile(stateDir)
  let lastWriteAt = Number.NEGATIVE_INFINITY
  let latest = 0
  let pending: NodeJS.Timeout | undefined

  const write = () => {
    pending = undefined
    lastWriteAt = Date.now()
    try {
      mkdirSync(stateDir, { recursive: true })
    } catch {
      return
    }
    // Best effort: a stamp that cannot be written only makes the keepalive less polite.
    writeFile(file, String(latest)).catch(() => {})
  }

  return () => {
    latest = Date.now()
    if (pending) return
    const wait = lastWriteAt + WRITE_EVERY_MS - latest
    if (wait <= 0) write()
    else pending = setTimeout(write, wait).unref()
  }
}

/**
 * When any adapter using this state folder last called the platform (ms since
 * epoch), or -Infinity when none has.
 *
 * @example
 * const quietFor = Date.now() - readLastCallAt(settings.stateDir)
 */
export function readLastCallAt(stateDir: string): number {
  const file = callStampFile(stateDir)
  try {
    const value = Number(readFileSync(file, 'utf8').trim())
    // A write caught half-way reads as garbage: the file's time is as good.
    return Number.isFinite(value) && value > 0 ? value : statSync(file).mtimeMs
  } catch {
    return Number.NEGATIVE_INFINITY
  }
}
