/**
 * The adapter names every session it creates with a fixed prefix and the time,
 * so that its sessions can never be mistaken for the user's own web chats
 * (which the sweeper must never delete), and an orphan's age can be read off
 * its name even when its journal was lost.
 */

export const SESSION_NAME_PREFIX = '[xipu-openai] '

/**
 * @example
 * createSessionName(new Date('2026-11-25T14:03:11Z')) // '[xipu-openai] 2026-11-25 14:03:11Z'
 */
export function createSessionName(now = new Date()): string {
  return `${SESSION_NAME_PREFIX}${now.toISOString().slice(0, 19).replace('T', ' ')}Z`
}

/** Whether a session name is one the adapter gave. */
export function isAdapterSessionName(name: unknown): boolean {
  return typeof name === 'string' && name.startsWith(SESSION_NAME_PREFIX)
}

/** When an adapter session was created, read off its name (ms since epoch). */
export function sessionNameTime(name: string): number | undefined {
  const match = /(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d)Z$/.exec(name)
  if (!match) return undefined
  const time = Date.parse(`${match[1]}T${match[2]}Z`)
  return Number.isNaN(time) ? undefined : time
}
