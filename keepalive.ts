/**
 * Keeps an unattended adapter working for weeks: logs in again before the
 * token expires (with the credentials config.ts saved), sweeps the sessions
 * an adapter left behind, and keeps the login warm. One keepalive runs per
 * `.env` (a lock file beside it); `adapter.ts --keepalive` runs the same jobs
 * inside the adapter instead.
 *
 *   npx tsx keepalive.ts                 run in the background until Ctrl-C
 *   npx tsx keepalive.ts --once          run every job once and exit (0 when all went well), for cron or a systemd timer
 *   npx tsx keepalive.ts --force-login   log in now, whatever the token's expiry
 */
import { parseFlags, runMain } from './lib/cli.ts'
import { XipuError } from './lib/errors.ts'
import { createKeepaliveClient, createKeepaliveJobs, keepaliveLockFile } from './lib/keepalive/jobs.ts'
import { tryAcquireLock } from './lib/lock.ts'
import { createLogger, setLogFile } from './lib/log.ts'
import { createReauth } from './lib/login/reauth.ts'
import { createSettingsStore } from './lib/settings.ts'

const USAGE = 'npx tsx keepalive.ts [--once] [--force-login]'
const log = createLogger('keepalive')

runMain(async () => {
  const flags = parseFlags({ once: { type: 'boolean' }, 'force-login': { type: 'boolean' } }, USAGE)
  const store = createSettingsStore()
  const settings = () => store.get()
  if (settings().logFile) setLogFile(settings().logFile)

  const { lock, owner } = tryAcquireLock(keepaliveLockFile(store.envFile), 'keepalive')
  if (!lock) {
    const who = owner ? `process ${owner.pid}, running since ${new Date(owner.startedAt).toLocaleString()}` : 'another process'
    throw new XipuError('E_LOCKED', `Another keepalive (${who}) already looks after ${store.envFile}: this one exits.`)
  }

  const { pacer, client } = createKeepaliveClient(settings)
  const reauth = createReauth({ settings, log, pacer })
  const jobs = createKeepaliveJobs({ settings, client, pacer, reauth, log, keepProcessAlive: !flags.once })

  if (flags.once) {
    const { ok, outcomes } = await jobs.runOnce({ forceLogin: flags['force-login'] })
    for (const o of outcomes) log[o.status === 'failed' ? 'warn' : 'info'](`${o.job}: ${o.status} (${o.message})`)
    lock.release()
    return ok ? 0 : 1
  }

  jobs.start({ forceLogin: flags['force-login'] })
  log.info(`Keepalive running as process ${process.pid} for ${store.envFile}. Ctrl-C stops it.`)
  const signal = await new Promise<string>((resolve) => {
    process.once('SIGINT', () => resolve('SIGINT'))
    process.once('SIGTERM', () => resolve('SIGTERM'))
  })
  jobs.stop()
  lock.release()
  log.info(`${signal}: keepalive stopped.`)
  return 0
}, log)
