/**
 * The one bounded wait of the suite: for the platform, the adapter or a
 * child process to reach some state. Its bound is a safety net on a hang,
 * never a measure of speed.
 */

const POLL_MS = 25
const DEFAULT_TIMEOUT_MS = 15_000

/**
 * Polls `check` until it returns a truthy value, and returns that value.
 * After `timeoutMs` it fails, saying what it waited for: `what` may be a
 * function, to describe the state at that moment.
 *
 * @example
 * await waitFor('the session deleted', () => !sim.state.sessions.has(id))
 * await waitFor(() => `streams open: ${sim.state.streamsOpen}`, () => sim.state.streamsOpen === 0, 30_000)
 */
export async function waitFor<T>(what: string | (() => string), check: () => T | Promise<T>, timeoutMs = DEFAULT_TIMEOUT_MS): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await check()
    if (value) return value as NonNullable<T>
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for: ${typeof what === 'string' ? what : what()}`)
    await new Promise((resolve) => setTimeout(resolve, POLL_MS))
  }
}
