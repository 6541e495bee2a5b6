/**
 * Reading the simulated platform: the user's own web chats every test seeds,
 * which sessions are the adapter's, and what the recorded calls show (their
 * spacing, the session each completion ran in, the sessions deleted).
 */
import { isAdapterSessionName } from '../../lib/sessions/names.ts'
import type { RecordedCall, RunningSimulator } from '../../lib/simulator/index.ts'

/** The user's own web chats a simulated account starts with: never the adapter's to delete. */
export const WEB_CHATS = ['My own web chat', '周末计划 (a web chat)']

/** Sessions on the platform that the adapter named (its own, orphans of earlier runs included). */
export function listAdapterSessions(sim: RunningSimulator): Array<{ id: number; name: string }> {
  return [...sim.state.sessions.values()].filter((s) => isAdapterSessionName(s.name)).map((s) => ({ id: s.id, name: s.name }))
}

/** Names of the sessions on the platform that are the user's (not named by the adapter). */
export function listUserChats(sim: RunningSimulator): string[] {
  return [...sim.state.sessions.values()].filter((s) => !isAdapterSessionName(s.name)).map((s) => s.name)
}

/** The smallest gap between the arrivals of two platform calls, in ms (Infinity for fewer than two). */
export function measureSmallestGap(calls: RecordedCall[]): number {
  const times = calls.map((c) => c.at).sort((a, b) => a - b)
  let min = Number.POSITIVE_INFINITY
  for (let i = 1; i < times.length; i++) min = Math.min(min, times[i]! - times[i - 1]!)
  return min
}

/** The session id a completions call was made for. */
export function readSessionId(call: RecordedCall): number {
  return Number((call.body as { sessionId?: unknown }).sessionId)
}

/** The ids that successful `delSession` calls deleted. */
export function listDeletedIds(calls: RecordedCall[]): number[] {
  return calls.filter((c) => c.endpoint === 'delSession' && c.status === 200).flatMap((c) => (c.body as { ids: number[] }).ids)
}
