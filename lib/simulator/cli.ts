/**
 * simulator.ts's flags and what it prints: the flags' checks (a port is a
 * whole number up to 65535, a gap and a lifetime are durations) and the
 * `.env` lines that point an adapter at the simulator.
 */
import { usageError, type FlagSpec } from '../cli.ts'
import { parseDuration } from '../settings.ts'
import type { RunningSimulator } from './index.ts'
import { CHAT_PAGE_MODES, type ChatPageMode } from './state.ts'

export const SIMULATOR_FLAGS = {
  port: { type: 'string', default: '9000', valueName: 'PORT', description: 'port to listen on (0: any free port)' },
  host: { type: 'string', default: '127.0.0.1', valueName: 'HOST', description: 'address to listen on' },
  gap: { type: 'string', default: '1000', valueName: 'DURATION', description: "the platform's rate limit: minimum gap between two calls (1500, 1s, …)" },
  ttl: { type: 'string', default: '4h', valueName: 'DURATION', description: 'lifetime of the tokens it issues' },
  'chat-page': {
    type: 'string',
    valueName: 'MODE',
    description: `how the chat page calls the API: ${CHAT_PAGE_MODES.join(', ')} (default: XIPU_SIM_CHAT_PAGE, else lists-on-click); creates-on-click is the stricter stand-in whose "New Chat" creates a session`,
  },
} as const satisfies Record<string, FlagSpec>

/** Where and how a simulator started by simulator.ts runs. */
export interface SimulatorFlags {
  host: string
  port: number
  minGapMs: number
  tokenTtlMs: number
  chatPage?: ChatPageMode
}

/**
 * Checks the flags' values; a bad one is a usage error naming the flag.
 *
 * @example
 * parseSimulatorFlags({ port: '9000', host: '127.0.0.1', gap: '1s', ttl: '4h' }).minGapMs // 1000
 */
export function parseSimulatorFlags(values: { port: string; host: string; gap: string; ttl: string; 'chat-page'?: string }): SimulatorFlags {
  const port = Number(values.port)
  if (!/^\d+$/.test(values.port.trim()) || port > 65535) throw usageError(`--port ${values.port} is not a port (a whole number from 0 to 65535).`)
  if (!values.host.trim()) throw usageError('--host needs an address, like 127.0.0.1.')
  const chatPage = values['chat-page']?.trim()
  if (chatPage !== undefined && !CHAT_PAGE_MODES.includes(chatPage as ChatPageMode)) {
    throw usageError(`--chat-page ${chatPage} is not one of ${CHAT_PAGE_MODES.join(', ')}.`)
  }
  return {
    host: values.host.trim(),
    port,
    minGapMs: _duration(values.gap, '--gap'),
    tokenTtlMs: _duration(values.ttl, '--ttl'),
    ...(chatPage ? { chatPage: chatPage as ChatPageMode } : {}),
  }
}

function _duration(raw: string, flag: string): number {
  try {
    return parseDuration(raw, flag)
  } catch {
    throw usageError(`${flag} ${raw} is not a duration (like 1500, 1500ms, 30s, 10m, 2h).`)
  }
}

/** The box simulator.ts shows: where the web app and the API are, and the rate limit. */
export function formatSimulatorBanner(sim: RunningSimulator, flags: SimulatorFlags): string {
  return [
    `Web app and SSO:  ${sim.webBase}  (user demo, password demo-password)`,
    `API base:         ${sim.apiBase}`,
    `Rate limit:       one call per ${flags.minGapMs} ms`,
    `Chat page:        ${sim.state.options.chatPage}`,
  ].join('\n')
}

/**
 * The `.env` lines for an adapter. These are the simulator's own throwaway
 * tokens, not a user's: printed whole on purpose (the redacting logger would
 * mask them), so that they can be pasted into a `.env`.
 */
export function formatSimulatorEnv(sim: RunningSimulator): string {
  const env = sim.adapterEnv()
  return [
    'Point an adapter at it with this .env (or run npx tsx config.ts, then npx tsx auth.ts):',
    `XIPU_WEB_BASE=${sim.webBase}`,
    `XIPU_API_BASE=${sim.apiBase}`,
    `JM_TOKEN=${env.JM_TOKEN}`,
    `SDP_SESSION=${env.SDP_SESSION}`,
  ].join('\n')
}
