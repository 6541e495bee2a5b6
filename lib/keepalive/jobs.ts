/**
 * The keepalive's scheduled jobs, for keepalive.ts and `adapter.ts --keepalive`:
 *
 * - `renew-token` logs in again `XIPU_REAUTH_BEFORE` ahead of the token's
 *   expiry (with backoff after a failure), or warns when it cannot;
 * - `sweep-orphans` deletes sessions the adapter created and never deleted,
 *   every `XIPU_SWEEP_INTERVAL`, never a web chat of the user's (lib/sessions/sweep.ts);
 * - `keep-warm` makes one cheap read after `XIPU_WARM_IDLE` without any call.
 *
 * The platform rate-limits the whole account, so these calls must never bunch
 * with the adapter's: in the adapter's process they wait their turn in its
 * pacer; as a separate process they go only once the adapter's "last call"
 * stamp is some seconds old, spaced widely, and a 429 is retried minutes later.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import type { ConsolaInstance } from 'consola'
import { Cron } from 'croner'
import { readLastCallAt } from '../xipu/call-stamp.ts'
import { isXipuError } from '../errors.ts'
import { formatDuration, isTokenUnusable } from '../jwt.ts'
import type { Journal } from '../sessions/journal.ts'
import type { SessionManager } from '../sessions/manager.ts'
import { createPacer, type Pacer } from '../xipu/pacer.ts'
import type { Reauth } from '../login/reauth.ts'
import type { Settings } from '../settings.ts'
import { sweepOrphans } from '../sessions/sweep.ts'
import { planRenewal } from './renewal.ts'
import { createXipuClient, type CallOptions, type XipuClient } from '../xipu/client.ts'

// The adapter's stamp is taken when its call starts; the call reaches the platform a
// little later (much later on a loaded machine). A warm read waits this much longer
// than XIPU_WARM_IDLE, so that it is XIPU_WARM_IDLE apart from that call's arrival too.
const WARM_MARGIN_MS = 1000

export interface KeepaliveTiming {
  /** First retry of a failed login, in ms, doubled on each failure (default 60000). */
  loginRetryBaseMs: number
  /** Longest wait between login retries, in ms (default 30 minutes). */
  loginRetryMaxMs: number
  /** A job refused with 429 tries again after this, in ms: never at once, the adapter needs the room (default 2 minutes). */
  rateLimitRetryMs: number
  /** A separate keepalive calls only once the adapter has made no call for this long, in ms (default 10000)… */
  quietMs: number
  /** …but waits for that at most this long, then calls anyway, in ms (default 2 minutes). */
  maxQuietWaitMs: number
  /** The token is re-read at least this often, to notice a login by auth.ts, in ms (default 15 minutes). */
  recheckMs: number
}

const DEFAULT_TIMING: KeepaliveTiming = {
  loginRetryBaseMs: 60_000,
  loginRetryMaxMs: 30 * 60_000,
  rateLimitRetryMs: 2 * 60_000,
  quietMs: 10_000,
  maxQuietWaitMs: 2 * 60_000,
  recheckMs: 15 * 60_000,
}

// A separate keepalive spaces its own calls this far apart (the adapter's are
// one second apart): the list and the delete of a sweep are all it ever bunches.
const KEEPALIVE_MIN_GAP_MS = 5000
// A session of the adapter's own that no request uses and is older than this
// was released and its delete failed: deleted again by the in-process sweep.
const OWN_LEFTOVER_MS = 60_000

export interface KeepaliveDeps {
  settings: () => Settings
  client: XipuClient
  pacer: Pacer
  reauth: Reauth
  log: ConsolaInstance
  /** In the adapter's process: its journal, the sessions its requests use, and its retry of failed deletes. */
  adapter?: Pick<SessionManager, 'activeIds' | 'retryLeftovers'> & { journal: Journal }
  /** Keep the process alive for the jobs (keepalive.ts); in the adapter the server does that (default false). */
  keepProcessAlive?: boolean
  timing?: Partial<KeepaliveTiming>
}

export interface JobOutcome {
  job: 'renew-token' | 'sweep-orphans' | 'keep-warm'
  status: 'ok' | 'skipped' | 'failed'
  message: string
}

let _instances = 0

/**
 * The lock file that keeps one keepalive per `.env`, beside it.
 *
 * @example
 * keepaliveLockFile('/home/me/xipu/.env') // '/home/me/xipu/.env.keepalive.lock'
 */
export function keepaliveLockFile(envFile: string): string {
  return `${envFile}.keepalive.lock`
}

/**
 * The pacer and client of a keepalive that runs as its own process: calls
 * spaced at least `minGapMs` apart (default five seconds), never retried at once.
 *
 * @example
 * const { pacer, client } = createKeepaliveClient(() => store.get())
 */
export function createKeepaliveClient(settings: () => Settings, options: { minGapMs?: number } = {}): { pacer: Pacer; client: XipuClient } {
  const gap = options.minGapMs ?? KEEPALIVE_MIN_GAP_MS
  const pacer = createPacer({ minGapMs: () => Math.max(gap, settings().minGapMs) })
  return { pacer, client: createXipuClient({ settings: () => ({ ...settings(), maxRetries: 0 }), pacer }) }
}

/**
 * @example
 * const jobs = createKeepaliveJobs({ settings, client, pacer, reauth, log })
 * jobs.start()            // keepalive.ts, adapter.ts --keepalive
 * await jobs.runOnce()    // keepalive.ts --once
 */
export function createKeepaliveJobs(deps: KeepaliveDeps) {
  const { log } = deps
  const timing: KeepaliveTiming = { ...DEFAULT_TIMING, ...deps.timing }
  const prefix = `keepalive#${++_instances}`
  const jobOptions = (name: string) => ({ name: `${prefix}:${name}`, protect: true, unref: !deps.keepProcessAlive, catch: (error: unknown) => log.error(`The ${name} job failed: ${(error as Error).message}`) })
  const crons = new Map<string, Cron>()
  let started = false
  let stopped = false
  let loginFailures = 0
  const warned = new Set<string>()

  /** A one-off run of `fn` at `at` under `name`, replacing the one scheduled before. */
  function _scheduleAt(name: string, at: number, fn: () => Promise<unknown>): void {
    if (!started || stopped) return
    crons.get(name)?.stop()
    const when = new Date(Math.max(at, Date.now() + 50)) // croner skips dates already past
    crons.set(name, new Cron(when, jobOptions(name), async () => void (await fn())))
  }

  /** How long since the account's last call: the adapter's (its stamp file) or this pacer's. */
  function _idleFor(): number {
    const own = Date.now() - (performance.now() - deps.pacer.lastStartAt())
    return Date.now() - Math.max(readLastCallAt(deps.settings().stateDir), own)
  }

  /** A separate keepalive waits until the adapter has been quiet a while (in its process, the pacer orders calls). */
  async function _awaitQuiet(): Promise<void> {
    if (deps.adapter) return
    const deadline = Date.now() + timing.maxQuietWaitMs
    const quietFor = () => Date.now() - readLastCallAt(deps.settings().stateDir)
    for (let quiet = quietFor(); quiet < timing.quietMs && Date.now() < deadline && !stopped; quiet = quietFor()) {
      await sleep(Math.min(timing.quietMs - quiet, 1000))
    }
  }

  // Every call of the jobs: after a quiet moment, and never retried at once.
  const client: XipuClient = {
    ...deps.client,
    async getCatalog(options?: CallOptions) {
      await _awaitQuiet()
      return deps.client.getCatalog({ ...options, retries: 0 })
    },
    async listSessions(options?: CallOptions) {
      await _awaitQuiet()
      return deps.client.listSessions({ ...options, retries: 0 })
    },
    async deleteSessions(ids: Parameters<XipuClient['deleteSessions']>[0], options?: CallOptions) {
      await _awaitQuiet()
      return deps.client.deleteSessions(ids, { ...options, retries: 0 })
    },
  }

  /** What a failed platform call means for a job, and when it runs again. */
  function _callFailed(job: JobOutcome['job'], error: unknown, retry: () => Promise<unknown>): JobOutcome {
    const message = (error as Error).message
    if (isXipuError(error, 'E_RATE_LIMITED')) {
      _scheduleAt(`${job}-retry`, Date.now() + timing.rateLimitRetryMs, retry)
      log.info(`${job}: the platform answered 429 (the adapter's calls share the account's rate limit); ${started ? `trying again in ${formatDuration(timing.rateLimitRetryMs)}` : 'try again later'}.`)
    } else if (isXipuError(error, 'E_TOKEN_EXPIRED', 'E_NO_TOKEN')) {
      log.warn(`${job}: the platform rejected the token.${deps.reauth.hasCredentials() ? ' Logging in again.' : ' Run npx tsx auth.ts to log in.'}`)
      if (deps.reauth.hasCredentials()) _scheduleAt('renew-token', Date.now(), () => renewToken({ now: true }))
    } else {
      log.warn(`${job} failed: ${message}`)
    }
    return { job, status: 'failed', message }
  }

  /**
   * Logs in when the token is due for renewal (`now`: whatever its expiry, as
   * after a 403), then schedules the next check. `force` also logs in when
   * another process has just saved a new token (--force-login).
   */
  async function renewToken(flags: { now?: boolean; force?: boolean } = {}): Promise<JobOutcome> {
    const job = 'renew-token'
    const settings = deps.settings()
    const asked = flags.now || flags.force
    if (!asked && !deps.reauth.hasCredentials()) return _warnNoCredentials(settings)
    const plan = asked ? ({ due: true, reason: flags.force ? '--force-login' : 'the platform rejected the token', expired: false } as const) : planRenewal(settings.jmToken, settings.reauthBeforeMs)
    if (!plan.due) {
      _scheduleAt(job, Math.min(plan.at, Date.now() + timing.recheckMs), () => renewToken())
      return { job, status: 'skipped', message: `${plan.reason}; renewal due at ${Number.isFinite(plan.at) ? new Date(plan.at).toLocaleString() : 'never'}` }
    }
    try {
      await deps.reauth.login(plan.reason, { force: flags.force })
      loginFailures = 0
      const next = planRenewal(deps.settings().jmToken, deps.settings().reauthBeforeMs)
      _scheduleAt(job, next.due ? Date.now() + timing.loginRetryBaseMs : Math.min(next.at, Date.now() + timing.recheckMs), () => renewToken())
      return { job, status: 'ok', message: 'logged in again' }
    } catch (error) {
      loginFailures++
      const delay = Math.min(timing.loginRetryMaxMs, timing.loginRetryBaseMs * 2 ** (loginFailures - 1))
      _scheduleAt(job, Date.now() + delay, () => renewToken(flags))
      const next = started ? `retrying in ${formatDuration(delay)} (attempt ${loginFailures + 1})` : 'not retried (--once)'
      log.warn(`Login failed (${(error as Error).message}); ${next}.`)
      return { job, status: 'failed', message: (error as Error).message }
    }
  }

  /** Without credentials: a warning once the margin is reached (the half-life rule is for logins only). */
  function _warnNoCredentials(settings: Settings): JobOutcome {
    const job = 'renew-token'
    const plan = planRenewal(settings.jmToken, settings.reauthBeforeMs, { halfLife: false })
    if (!plan.due) {
      _scheduleAt(job, Math.min(plan.at, Date.now() + timing.recheckMs), () => renewToken())
      return { job, status: 'skipped', message: `${plan.reason}; no saved credentials to renew it with` }
    }
    const token = settings.jmToken ?? ''
    const key = `${plan.expired ? 'expired' : 'expiring'}:${token}`
    if (!warned.has(key)) {
      warned.add(key)
      log.warn(`${plan.reason}, and no XJTLU_USERNAME and XJTLU_PASSWORD are saved to renew it with: run npx tsx config.ts, then npx tsx auth.ts${plan.expired ? '' : ' before then'} (renewals are automatic from then on).`)
    }
    const exp = planRenewal(settings.jmToken, 0)
    _scheduleAt(job, exp.due ? Date.now() + timing.recheckMs : Math.min(exp.at, Date.now() + timing.recheckMs), () => renewToken())
    return { job, status: plan.expired ? 'failed' : 'skipped', message: plan.reason }
  }

  /** Deletes the adapter's orphan sessions. */
  async function sweep(): Promise<JobOutcome> {
    const job = 'sweep-orphans'
    const settings = deps.settings()
    if (settings.sweepIntervalMs <= 0) return { job, status: 'skipped', message: 'off (XIPU_SWEEP_INTERVAL=0)' }
    if (isTokenUnusable(settings.jmToken)) return { job, status: 'skipped', message: 'no valid token to sweep with' }
    try {
      const result = await sweepOrphans({
        client,
        stateDir: settings.stateDir,
        apiBase: settings.apiBase,
        maxRequestMs: settings.maxRequestMs,
        ownJournal: deps.adapter?.journal,
        activeIds: deps.adapter?.activeIds(),
        log,
      })
      const leftovers = deps.adapter ? await deps.adapter.retryLeftovers(OWN_LEFTOVER_MS) : 0
      const deleted = result.deleted.length + leftovers
      return { job, status: 'ok', message: deleted > 0 ? `deleted ${deleted} orphan session(s)` : `no orphans among ${result.totalSessions} session(s)` }
    } catch (error) {
      return _callFailed(job, error, sweep)
    }
  }

  /** One cheap authenticated read when the account has been idle for XIPU_WARM_IDLE. */
  async function keepWarm(): Promise<JobOutcome> {
    const job = 'keep-warm'
    const settings = deps.settings()
    if (settings.warmIdleMs <= 0) return { job, status: 'skipped', message: 'off (XIPU_WARM_IDLE=0)' }
    if (isTokenUnusable(settings.jmToken)) return { job, status: 'skipped', message: 'no valid token' }
    const idle = _idleFor()
    if (idle < settings.warmIdleMs + WARM_MARGIN_MS) return { job, status: 'skipped', message: `the last call was ${formatDuration(idle)} ago` }
    try {
      await client.getCatalog({ priority: 'idle' })
      log.info(`Kept the login warm: one catalog read after ${Number.isFinite(idle) ? formatDuration(idle) : 'a long time'} without calls.`)
      return { job, status: 'ok', message: 'read the catalog' }
    } catch (error) {
      return _callFailed(job, error, keepWarm)
    }
  }

  return {
    renewToken,
    sweep,
    keepWarm,

    /**
     * Schedules the jobs: the renewal for the token's expiry (first check at
     * once; `forceLogin` logs in then whatever the expiry), the sweep every
     * XIPU_SWEEP_INTERVAL (first at once unless `sweepNow` is false), the
     * warm check a few times per XIPU_WARM_IDLE.
     */
    start(options: { sweepNow?: boolean; forceLogin?: boolean } = {}): void {
      if (started) return
      started = true
      const settings = deps.settings()
      _scheduleAt('renew-token', Date.now(), () => renewToken({ force: options.forceLogin }))
      const every = (name: string, ms: number, fn: () => Promise<unknown>) => {
        const seconds = Math.max(1, Math.round(ms / 1000))
        const cron = new Cron('* * * * * *', { ...jobOptions(name), interval: seconds, startAt: new Date(Date.now() + seconds * 1000) }, async () => void (await fn()))
        crons.set(name, cron)
        return cron
      }
      if (settings.sweepIntervalMs > 0) {
        const job = every('sweep-orphans', settings.sweepIntervalMs, sweep)
        if (options.sweepNow !== false) void job.trigger()
      }
      if (settings.warmIdleMs > 0) every('keep-warm', Math.min(60_000, settings.warmIdleMs / 4), keepWarm)
      const plan = planRenewal(settings.jmToken, settings.reauthBeforeMs)
      log.info(
        `Keepalive jobs running: ${plan.reason}${deps.reauth.hasCredentials() ? '' : ' (no saved credentials: it will warn instead of logging in)'}; ` +
          `sweeping orphans ${settings.sweepIntervalMs > 0 ? `every ${formatDuration(settings.sweepIntervalMs)}` : 'never (XIPU_SWEEP_INTERVAL=0)'}; ` +
          `${settings.warmIdleMs > 0 ? `a warm read after ${formatDuration(settings.warmIdleMs)} idle` : 'no warm reads'}.`,
      )
    },

    /** Runs every job once, in order (keepalive.ts --once); `forceLogin` logs in whatever the expiry. */
    async runOnce(options: { forceLogin?: boolean } = {}): Promise<{ ok: boolean; outcomes: JobOutcome[] }> {
      const outcomes = [await renewToken({ force: options.forceLogin }), await sweep(), await keepWarm()]
      return { ok: outcomes.every((o) => o.status !== 'failed'), outcomes }
    },

    /** Stops every job; a job already running finishes on its own. */
    stop(): void {
      stopped = true
      for (const cron of crons.values()) cron.stop()
      crons.clear()
    },
  }
}

export type KeepaliveJobs = ReturnType<typeof createKeepaliveJobs>
