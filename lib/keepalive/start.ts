/**
 * Starts a keepalive on its own (keepalive.ts), beside `startAdapter()`: its
 * settings, its log file, the lock that lets one keepalive run per `.env`,
 * its own paced client and the jobs. `adapter.ts --keepalive` runs the same
 * jobs inside the adapter instead (lib/adapter/start.ts).
 */
import type { ConsolaInstance } from 'consola'
import { XipuError } from '../errors.ts'
import { tryAcquireLock } from '../lock.ts'
import { setLogFile } from '../log.ts'
import { createReauth } from '../login/reauth.ts'
import { createSettingsStore } from '../settings.ts'
import { createKeepaliveClient, createKeepaliveJobs, keepaliveLockFile, type KeepaliveJobs } from './jobs.ts'

export interface StartKeepaliveOptions {
  /** The `.env` file (default: `XIPU_ENV_FILE` or `./.env`). */
  envFile?: string
  /** Keep the process alive for the jobs (false for `--once`, which ends when they did). */
  keepProcessAlive: boolean
  log: ConsolaInstance
}

export interface RunningKeepalive {
  envFile: string
  jobs: KeepaliveJobs
  /** Stops the jobs and releases the lock. */
  close(): void
}

/**
 * Takes this `.env`'s keepalive lock (`E_LOCKED`, naming the owner, when
 * another keepalive holds it) and creates the jobs, not yet started.
 *
 * @example
 * const keepalive = startKeepalive({ keepProcessAlive: true, log })
 * keepalive.jobs.start()
 * // … on SIGTERM:
 * keepalive.close()
 */
export function startKeepalive(options: StartKeepaliveOptions): RunningKeepalive {
  const { log } = options
  const store = createSettingsStore({ envFile: options.envFile })
  const settings = () => store.get()
  if (settings().logFile) setLogFile(settings().logFile)

  const { lock, owner } = tryAcquireLock(keepaliveLockFile(store.envFile), 'keepalive')
  if (!lock) {
    const who = owner ? `process ${owner.pid}, running since ${new Date(owner.startedAt).toLocaleString()}` : 'another process'
    throw new XipuError('E_LOCKED', `Another keepalive (${who}) already looks after ${store.envFile}: this one exits.`)
  }

  const { pacer, client } = createKeepaliveClient(settings)
  const reauth = createReauth({ settings, log, pacer })
  const jobs = createKeepaliveJobs({ settings, client, pacer, reauth, log, keepProcessAlive: options.keepProcessAlive })
  return {
    envFile: store.envFile,
    jobs,
    close() {
      jobs.stop()
      lock.release()
    },
  }
}
