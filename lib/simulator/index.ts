/**
 * A faithful simulator of the XIPU AI platform: the chat API (catalog,
 * sessions, completions as SSE, upload, delete), the SSO login pages, the
 * per-user rate limit, the 50-session cap and token expiry. Every test and
 * the demo run against it; users debug their clients with it.
 *
 * @example
 * const sim = await startSimulator({ minGapMs: 1000 })
 * const { jmToken, sdpSession } = sim.issueCredentials()
 * // … point the adapter at sim.apiBase …
 * await sim.close()
 */
import { H3 } from 'h3'
import { serveApp, type RunningServer } from '../serve.ts'
import { registerApiRoutes, registerFileRoutes } from './api.ts'
import { registerSsoPages } from './sso-pages.ts'
import { createSimulatorState, type SimulatorOptions } from './state.ts'

export type { ChatPageMode, Fault, RecordedCall, SimSession, SimulatorOptions } from './state.ts'
export { CHAT_PAGE_MODES } from './state.ts'

/** The simulator as an h3 app, not yet listening (for in-process tests). */
export function createSimulatorApp(options: SimulatorOptions = {}) {
  const state = createSimulatorState(options)
  const app = new H3()
  registerApiRoutes(app, state, state.options.apiPath)
  registerFileRoutes(app, state)
  registerSsoPages(app, state)
  return { app, state }
}

export interface RunningSimulator {
  /** Origin of the web app, e.g. `http://127.0.0.1:41234` (XIPU_WEB_BASE). */
  webBase: string
  /** The chat API base (XIPU_API_BASE). */
  apiBase: string
  state: ReturnType<typeof createSimulatorState>
  server: RunningServer
  /** Issues a fresh token pair for a user, as a browser login would. */
  issueCredentials(username?: string, ttlMs?: number): ReturnType<ReturnType<typeof createSimulatorState>['tokens']['issue']>
  /** The adapter's settings that point at this simulator with fresh credentials. */
  adapterEnv(username?: string): Record<string, string>
  close(): Promise<void>
}

/** Starts the simulator on `host:port` (port 0: a random free port). */
export async function startSimulator(options: SimulatorOptions & { host?: string; port?: number } = {}): Promise<RunningSimulator> {
  const { app, state } = createSimulatorApp(options)
  const server = await serveApp(app, { host: options.host ?? '127.0.0.1', port: options.port ?? 0 })
  state.setPublicUrl(server.url)
  const defaultUser = Object.keys(state.options.users)[0] ?? 'demo'
  const sim: RunningSimulator = {
    webBase: server.url,
    apiBase: `${server.url}${state.options.apiPath}`,
    state,
    server,
    issueCredentials: (username = defaultUser, ttlMs) => state.tokens.issue(username, ttlMs),
    adapterEnv(username = defaultUser) {
      const creds = state.tokens.issue(username)
      return { JM_TOKEN: creds.jmToken, SDP_SESSION: creds.sdpSession, XIPU_API_BASE: sim.apiBase, XIPU_WEB_BASE: sim.webBase }
    },
    close: () => server.close(0),
  }
  return sim
}
