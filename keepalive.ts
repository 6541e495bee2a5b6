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
import { runScript, waitForStopSignal } from './lib/cli.ts'
import { startKeepalive } from './lib/keepalive/start.ts'

runScript({
  script: 'keepalive.ts',
  about: 'Renews the token before it expires, sweeps orphan sessions and keeps the login warm, until Ctrl-C. One keepalive runs per .env.',
  flags: {
    once: { type: 'boolean', description: 'run every job once and exit (0 when all went well), for cron or a systemd timer' },
    'force-login': { type: 'boolean', description: "log in now, whatever the token's expiry" },
  },
  async main({ flags, log }) {
    const keepalive = startKeepalive({ keepProcessAlive: !flags.once, log })
    if (flags.once) {
      try {
        const { ok, outcomes } = await keepalive.jobs.runOnce({ forceLogin: flags['force-login'] })
        for (const o of outcomes) log[o.status === 'failed' ? 'warn' : 'info'](`${o.job}: ${o.status} (${o.message})`)
        return ok ? 0 : 1
      } finally {
        keepalive.close()
      }
    }
    const stopSignal = waitForStopSignal()
    keepalive.jobs.start({ forceLogin: flags['force-login'] })
    log.info(`Keepalive running as process ${process.pid} for ${keepalive.envFile}. Ctrl-C stops it.`)
    const signal = await stopSignal
    keepalive.close()
    log.info(`${signal}: keepalive stopped.`)
    return 0
  },
})
