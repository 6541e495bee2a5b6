/**
 * Wires the adapter together (settings, pacer, client, journal, sessions,
 * pipeline, app) and serves it. adapter.ts and the tests both start it here.
 */
import type { ConsolaInstance } from 'consola'
import { createAdapterApp } from './app.ts'
import { createChatPipeline } from './chat.ts'
import { XipuError } from './errors.ts'
import { createJournal } from './journal.ts'
import { createLogger, setLogFile } from './log.ts'
import { createModelCatalog } from './models.ts'
import { createPacer } from './pacer.ts'
import { serveApp } from './server.ts'
import { createSessionManager } from './sessions.ts'
import { createSettingsStore, type SettingsStore } from './settings.ts'
import { createXipuClient } from './xipu-client.ts'

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
  log?: ConsolaInstance
}

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

  const pacer = createPacer({ minGapMs: () => settings().minGapMs, queueMax: () => settings().queueMax, queueTimeoutMs: () => settings().queueTimeoutMs })
  const client = createXipuClient({ settings, pacer })
  const journal = createJournal({ stateDir: initial.stateDir, apiBase: () => settings().apiBase })
  const sessions = createSessionManager({ client, journal, settings, log })
  const chat = createChatPipeline({ client, sessions, log, reauth: options.reauth })
  const models = createModelCatalog({ client, settings, log })
  let shuttingDown = false
  const app = createAdapterApp({ settings, chat, models, pacer, sessions, log, isShuttingDown: () => shuttingDown })
  const server = await serveApp(app, { host, port: options.port ?? initial.port })

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
    log,
    /**
     * Stops accepting, lets running streams finish for up to `graceMs`,
     * deletes their sessions, then closes.
     */
    async close(graceMs = 5000): Promise<void> {
      shuttingDown = true
      const deadline = Date.now() + graceMs
      const closing = server.close(graceMs)
      while (sessions.activeCount() > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50))
      await closing
      sessions.close()
      await sessions.drain(Math.max(2000, deadline - Date.now() + 2000))
      pacer.rejectAll(new XipuError('E_SHUTTING_DOWN', 'The adapter is shutting down.'))
    },
  }
}

export type RunningAdapter = Awaited<ReturnType<typeof startAdapter>>
