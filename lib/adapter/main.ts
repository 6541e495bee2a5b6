/**
 * adapter.ts's body: start the adapter (against a built-in simulator with
 * `simulate`), print the banner, serve until SIGINT or SIGTERM, then close
 * gracefully.
 */
import type { ConsolaInstance } from 'consola'
import { waitForStopSignal } from '../cli.ts'
import { formatBanner, formatTryIt } from './banner.ts'
import { needsFirstRun, runFirstRun } from './first-run.ts'
import { loadSettings } from '../settings.ts'
import { startAdapter } from './start.ts'

// Running requests get this long to finish on Ctrl-C before their sessions are deleted anyway.
const SHUTDOWN_GRACE_MS = 5000

export interface ServeOptions {
  /** Serve against a built-in simulator (`npm run demo`). */
  simulate?: boolean
  /** Run the keepalive jobs in this process too. */
  keepalive?: boolean
  log: ConsolaInstance
}

/**
 * Serves until the process is told to stop; resolves with the exit code once
 * everything is closed (1 when a first run was cancelled before serving).
 *
 * @example
 * await serveUntilStopped({ simulate: true, log })
 */
export async function serveUntilStopped(options: ServeOptions): Promise<number> {
  const { log } = options
  // First run on a terminal: ask for the login and log in here, as run.bat did.
  if (!options.simulate && needsFirstRun(loadSettings()) && !(await runFirstRun({ log }))) return 1
  const demo = options.simulate ? await _startDemoPlatform(log) : undefined
  const adapter = await startAdapter({ overrides: demo?.env, heal: true, keepalive: options.keepalive })
  // Listening before the banner: whoever reads it may stop us at once.
  const stopSignal = waitForStopSignal()
  const { models, source } = await adapter.models.list()
  log.box(formatBanner({ baseURL: adapter.baseURL, settings: adapter.settings(), models, source, simulated: Boolean(demo) }))
  if (demo) console.log(formatTryIt(adapter.baseURL, models[0]?.id ?? 'gpt-4.1'))

  const signal = await stopSignal
  log.info(`${signal}: finishing running requests (up to ${SHUTDOWN_GRACE_MS / 1000} s), deleting their sessions, then exiting.`)
  await adapter.close(SHUTDOWN_GRACE_MS)
  await demo?.close()
  return 0
}

/** The demo's platform (lib/simulator/demo.ts), announced with its login. */
async function _startDemoPlatform(log: ConsolaInstance) {
  // Loaded only for the demo: a real adapter does not carry the simulator in memory.
  const { startDemoPlatform } = await import('../simulator/demo.ts')
  const demo = await startDemoPlatform()
  log.info(`Simulated XIPU platform at ${demo.simulator.webBase} (login demo / demo-password)`)
  return demo
}
