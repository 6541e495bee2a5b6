/**
 * An async generator's `finally` runs only once its iteration has begun:
 * `return()` on one that was never started just marks it done. A stream whose
 * consumer gave up before its first read (a client that left just as the
 * response began) would then never let go of what it holds: the platform call,
 * the session. This makes `return()` run `close` in every case.
 */

/**
 * Makes `events.return()` run `close` too, whether iteration began or not.
 * `close` must be idempotent: the generator's own `finally` calls it as well.
 *
 * @example
 * const close = () => controller.abort()
 * async function* read() { try { … } finally { close() } }
 * return closeOnReturn(read(), close)
 */
export function closeOnReturn<T>(events: AsyncGenerator<T>, close: () => void | Promise<void>): AsyncGenerator<T> {
  const ownReturn = events.return.bind(events)
  events.return = async (value) => {
    try {
      return await ownReturn(value)
    } finally {
      await close()
    }
  }
  return events
}
