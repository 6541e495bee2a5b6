/**
 * Wires the adapter together (settings, pacer, client, journal, sessions,
 * pipeline, app) and serves it. adapter.ts and the tests both start it here.
 * With `heal` it also looks after itself: a login before serving when the
 * token is gone, a login after a platform 403, a sweep of earlier orphans;
 * with `keepalive` it runs the keepalive jobs too (lib/keepalive/jobs.ts).
 */
import { setTimeout as sleep } from 'node:timers/promises'
import type { ConsolaInstance } from 'consola'
import { createAdapterApp } from './app.ts'
import { createCallStamper } from '../xipu/call-stamp.ts'
import { createChatPipeline, type ChatPipeline } from '../chat/pipeline.ts'
import { XipuError } from '../errors.ts'
import { isTokenUnusable } from '../jwt.ts'
import { createJournal, type Journal } from '../sessions/journal.ts'
import { createKeepaliveJobs, keepaliveLockFile, type KeepaliveJobs, type KeepaliveTiming } from '../keepalive/jobs.ts'
import { tryAcquireLock, type HeldLock } from '../lock.ts'
import { createLogger, setLogFile } from '../log.ts'
import { createModelCatalog } from '../xipu/catalog.ts'
import { createImageResolver } from '../images/resolve.ts'
import { createUploadCache } from '../images/upload-cache.ts'
import { createPacer } from '../xipu/pacer.ts'
import { serveApp } from '../serve.ts'
import { createReauth, type Reauth } from '../login/reauth.ts'
import { createSessionManager, type SessionManager } from '../sessions/manager.ts'
import { createSettingsStore, type Settings, type SettingsStore } from '../settings.ts'
import { sweepOrphans, type SweepResult } from '../sessions/sweep.ts'
import { createXipuClient, type XipuClient } from '../xipu/client.ts'
import { createStatusRecorder } from '../status/recorder.ts'

export interface StartAdapterOptions {
  /** The `.env` file (default: `XIPU_ENV_FILE` or `./.env`). */
  envFile?: string
  /** Settings that beat the environment and `.env` (the demo points them at the simulator). */
  overrides?: Record<string, string>
  /** Environment to read instead of `process.env` (tests). */
  env?: NodeJS.ProcessEnv
  /** Listen here instead of the HOST and PORT settings (port 0: random). */
  host?: string
  port?: number
  /** Logs in again after a platform 403; resolves true when new tokens are in `.env`. */
  reauth?: () => Promise<boolean>
  /**
   * Look after itself (adapter.ts turns it on; default false): sweep the orphan
   * sessions of earlier runs at startup, log in before serving when the token
   * is missing or expired, and log in again after a platform 403 (one login
   * at a time; requests that arrive meanwhile wait for it). Logins need
   * XJTLU_USERNAME and XJTLU_PASSWORD; without them a 403 is answered 401.
   */
  heal?: boolean
  /** Also run the keepalive jobs in this process (`adapter.ts --keepalive`), unless another keepalive runs for this `.env`. */
  keepalive?: boolean | { timing?: Partial<KeepaliveTiming> }
  log?: ConsolaInstance
}

// After the grace, how long the streams ended by shutdown get to send their error event.
const SHUTDOWN_FLUSH_MS = 1000

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1|\[::1\]|localhost)$/i

/**
 * @example
 * const adapter = await startAdapter({ port: 0 })
 * const client = new OpenAI({ baseURL: adapter.baseURL, apiKey: 'unused' })
 * await adapter.close()
 */
export async function startAdapter(options: StartAdapterOptions = {}) {
  const store: SettingsStore = createSettingsStore({ envFile: options.envFile, overrides: options.overrides, env: options.env })
  const settings = () => store.get()
  const initial = settings()
  const log = options.log ?? createLogger('adapter')
  if (initial.logFile) setLogFile(initial.logFile)

  const host = options.host ?? initial.host
  if (!LOOPBACK.test(host) && !initial.apiKey) {
    throw new XipuError(
      'E_CONFIG',
      `HOST=${host} would let other machines use your XJTLU account. Set ADAPTER_API_KEY to a long random key first, or keep HOST=127.0.0.1.`,
    )
  }
  if (initial.corsOrigins.includes('*') && !initial.apiKey) {
    throw new XipuError(
      'E_CONFIG',
      'XIPU_CORS_ORIGINS=* would let any web page you visit use your XJTLU account. List the origins that may call the adapter (like http://localhost:3000), or set ADAPTER_API_KEY first.',
    )
  }

  // What the status page at / shows: requests, platform calls, warnings.
  const status = createStatusRecorder()
  const unwatchLog = status.watchLog(log)
  const stamp = createCallStamper(initial.stateDir)
  const pacer = createPacer({
    minGapMs: () => settings().minGapMs,
    queueMax: () => settings().queueMax,
    queueTimeoutMs: () => settings().queueTimeoutMs,
    // A keepalive in another process reads this stamp to keep its calls apart from ours.
    onCall: (label) => {
      stamp(label)
      status.noteCall(label)
    },
  })
  const client = createXipuClient({ settings, pacer })
  const journal = createJournal({ stateDir: initial.stateDir, apiBase: () => settings().apiBase })
  const sessions = createSessionManager({ client, journal, settings, log })
  // After a login that healed a bad token, the deletes that token failed are retried at once, not left to a sweep.
  const retryDeletes = ({ healing }: { healing: boolean }) => {
    if (healing) void sessions.retryLeftovers(0)
  }
  const reauth = options.heal || options.keepalive ? createReauth({ settings, log, pacer, onLogin: retryDeletes }) : undefined
  const healer = options.heal ? reauth : undefined
  await healer?.ensureToken()
  // Aborted when shutdown's grace is over: the answers still running then end with an error event.
  const shutdown = new AbortController()
  const models = createModelCatalog({ client, settings, log })
  const images = createImageResolver({ settings, client, models, cache: createUploadCache({ stateDir: initial.stateDir, log }), log })
  const pipeline = createChatPipeline({ client, sessions, log, reauth: options.reauth ?? healer?.heal, shutdown: shutdown.signal, images })
  const chat: ChatPipeline = healer ? _waitingForLogins(pipeline, healer) : pipeline
  let shuttingDown = false
  let keepaliveHere = false
  const app = createAdapterApp({ settings, chat, models, pacer, sessions, log, isShuttingDown: () => shuttingDown, bindHost: host, status, keepaliveHere: () => keepaliveHere })
  const server = await serveApp(app, { host, port: options.port ?? initial.port })
  const startupSweep = healer ? _sweepEarlierOrphans({ settings, client, journal, sessions, log }) : Promise.resolve(undefined)
  void startupSweep.then((result) => result && sessions.noteListing(result))
  const keepalive =
    options.keepalive && reauth
      ? _startKeepalive({ settings, client, pacer, reauth, journal, sessions, log, sweepNow: !healer, timing: options.keepalive === true ? undefined : options.keepalive.timing })
      : undefined
  keepaliveHere = keepalive !== undefined

  return {
    url: server.url,
    /** What to paste into a client as the OpenAI base URL. */
    baseURL: `${server.url}/v1`,
    app,
    store,
    settings,
    pacer,
    client,
    journal,
    sessions,
    models,
    /** The status page's record of requests, platform calls and problems. */
    status,
    log,
    /** The self-healing logins (with `heal` or `keepalive`). */
    reauth,
    /** The keepalive jobs running in this process, if any. */
    keepalive: keepalive?.jobs,
    /** Settles once the startup sweep of earlier orphans is done (with `heal`). */
    startupSweep,
    /**
     * Shuts down: new requests get 503 `shutting_down` (the port stays open
     * meanwhile), running ones get up to `graceMs` to finish; a stream still
     * running then ends with an error event. Deletes their sessions, then closes.
     */
    async close(graceMs = 5000): Promise<void> {
      shuttingDown = true
      unwatchLog()
      keepalive?.jobs.stop()
      keepalive?.lock.release()
      const deadline = Date.now() + graceMs
      // Still listening: a new request gets 503 shutting_down (Retry-After), not a refused connection,
      // while the running ones finish.
      while (sessions.activeCount() > 0 && Date.now() < deadline) await sleep(50)
      if (sessions.activeCount() > 0) {
        // The grace is over: what still runs ends with an error event, not a cut connection.
        shutdown.abort()
        const flushed = Date.now() + SHUTDOWN_FLUSH_MS
        while (sessions.activeCount() > 0 && Date.now() < flushed) await sleep(20)
      }
      await server.close(SHUTDOWN_FLUSH_MS)
      sessions.close()
      await sessions.drain(Math.max(2000, deadline - Date.now() + 2000))
      pacer.rejectAll(new XipuError('E_SHUTTING_DOWN', 'The adapter is shutting down.'))
    },
  }
}

export type RunningAdapter = Awaited<ReturnType<typeof startAdapter>>

/** Requests that arrive while a login for a bad token runs wait for it, rather than earn a 403. */
function _waitingForLogins(chat: ChatPipeline, reauth: Reauth): ChatPipeline {
  return {
    async open(request, signal) {
      await reauth.whenReady(signal)
      return chat.open(request, signal)
    },
  }
}

/**
 * Deletes the sessions earlier runs left behind (a crash, a kill, a sleep).
 * In the background and at cleanup priority: requests go first.
 */
async function _sweepEarlierOrphans(deps: { settings: () => Settings; client: XipuClient; journal: Journal; sessions: SessionManager; log: ConsolaInstance }): Promise<SweepResult | undefined> {
  const settings = deps.settings()
  if (isTokenUnusable(settings.jmToken)) return undefined
  try {
    return await sweepOrphans({
      client: deps.client,
      stateDir: settings.stateDir,
      apiBase: settings.apiBase,
      maxRequestMs: settings.maxRequestMs,
      ownJournal: deps.journal,
      activeIds: deps.sessions.activeIds(),
      log: deps.log,
    })
  } catch (error) {
    deps.log.warn(`Could not sweep the orphan sessions of earlier runs (${(error as Error).message}); the next sweep will.`)
    return undefined
  }
}

/** The keepalive jobs in the adapter's process, unless another keepalive already runs for this `.env`. */
function _startKeepalive(deps: {
  settings: () => Settings
  client: XipuClient
  pacer: ReturnType<typeof createPacer>
  reauth: Reauth
  journal: Journal
  sessions: SessionManager
  log: ConsolaInstance
  sweepNow: boolean
  timing?: Partial<KeepaliveTiming>
}): { jobs: KeepaliveJobs; lock: HeldLock } | undefined {
  const envFile = deps.settings().envFile
  const taken = tryAcquireLock(keepaliveLockFile(envFile), 'keepalive')
  if (!taken.lock) {
    deps.log.warn(`Another keepalive${taken.owner ? ` (process ${taken.owner.pid})` : ''} already runs for ${envFile}: this adapter leaves the keepalive jobs to it.`)
    return undefined
  }
  const jobs = createKeepaliveJobs({
    settings: deps.settings,
    client: deps.client,
    pacer: deps.pacer,
    reauth: deps.reauth,
    log: deps.log.withTag('keepalive'),
    adapter: { journal: deps.journal, activeIds: deps.sessions.activeIds, retryLeftovers: deps.sessions.retryLeftovers },
    timing: deps.timing,
  })
  jobs.start({ sweepNow: deps.sweepNow })
  return { jobs, lock: taken.lock }
}
