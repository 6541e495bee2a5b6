/**
 * Waiting for something unless the caller goes away: the one helper for the
 * "promise or abort, whichever comes first" that a request's signal needs.
 * Plain waits use `node:timers/promises` with the signal instead.
 */
import { XipuError } from './errors.ts'

/**
 * `promise`, or `E_ABORTED` (with `why`) as soon as `signal` aborts; the
 * promise itself goes on, for whoever else waits on it.
 *
 * @example
 * const models = await untilAborted(loading, event.req.signal, 'models: the client went away')
 */
export function untilAborted<T>(promise: Promise<T>, signal: AbortSignal | undefined, why: string): Promise<T> {
  if (!signal) return promise
  if (signal.aborted) return Promise.reject(new XipuError('E_ABORTED', why))
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(new XipuError('E_ABORTED', why))
    signal.addEventListener('abort', onAbort, { once: true })
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort))
  })
}
