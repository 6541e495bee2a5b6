/**
 * Everything the simulated platform remembers: users, sessions, uploads, the
 * per-user rate limit, injected faults, and a record of every call it
 * received (tests and users debugging a client read it).
 */
import { createHash } from 'node:crypto'
import type { WordFilterReply } from './answers.ts'
import { createTokenIssuer } from './tokens.ts'

export interface SimulatorOptions {
  /** Minimum gap between two calls of one user, in ms; closer calls get 429 (default 1000). */
  minGapMs?: number
  /** Sessions one user may hold, web chats included (default 50). */
  sessionCap?: number
  /** Lifetime of issued tokens, in ms (default 4 hours). */
  tokenTtlMs?: number
  /** Accounts of the SSO login (default `{ demo: 'demo-password' }`). */
  users?: Record<string, string>
  /** Delay before the first byte of a completion, in ms (default 0). */
  firstByteDelayMs?: number
  /** Web chats the user already has (names), created at start for the first user. */
  seedWebChats?: string[]
  /** Path of the API on the simulator's origin (default `/jmapi/api/chat`, the late-2026 layout). */
  apiPath?: string
  /** Delay of each SSO page step, in ms (default 0). */
  loginStepDelayMs?: number
  /** Leave this login step out, so a login waiting for it times out (tests). */
  breakLoginStep?: 'portal-link' | 'chat-button' | 'api-call'
  /**
   * How the chat page reaches the API (default `lists-on-click`, or the
   * `XIPU_SIM_CHAT_PAGE` environment variable, so that a whole test run can
   * use a stricter page): see `ChatPageMode`.
   */
  chatPage?: ChatPageMode
  /**
   * What `config` answers as `data.models` (default: the late-2026 catalog). Any
   * value: the doctor's tests give it a shape the adapter does not expect.
   */
  catalog?: unknown
  /**
   * How a completion stream ends (default both): the `type: "object"` result
   * event and `data: [DONE]`. The protocol document says `[DONE]` is optional;
   * a platform that stopped sending either is what the doctor must catch.
   */
  streamEnding?: { result?: boolean; done?: boolean }
  /**
   * How the word filter answers a prompt with a banned word (`BANNED_WORDS`):
   * `empty` (default) an empty answer, `canned` the web app's "Unfortunately, I
   * don't have any relevant information…" sentence, `empty-body` a 200 with no event.
   */
  wordFilter?: WordFilterReply
  /**
   * Whether `saveSession` takes `contextCount` (not confirmed on the real
   * platform): `always` (default), `update-only` (a create keeps the web
   * default), `refused-on-create` (a create that sends it is refused with
   * code ≠ 0; an update takes it), or `never` (the web default, whatever is sent).
   */
  contextCount?: 'always' | 'update-only' | 'refused-on-create' | 'never'
}

/**
 * - `lists-on-click`: no call on load; "New Chat" lists the sessions.
 * - `creates-on-click`: no call on load; "New Chat" creates a session
 *   (`saveSession`), as chat web apps usually do, then lists the sessions. A
 *   login that clicks it leaves a "New Chat" behind unless it deletes it.
 * - `calls-on-load`: the page reads the catalog and the session list as it
 *   loads; "New Chat" creates a session.
 */
export type ChatPageMode = 'lists-on-click' | 'creates-on-click' | 'calls-on-load'

export const CHAT_PAGE_MODES: readonly ChatPageMode[] = ['lists-on-click', 'creates-on-click', 'calls-on-load']

/** The chat page mode from the option, else `XIPU_SIM_CHAT_PAGE`, else `lists-on-click`. */
function _chatPageMode(option: ChatPageMode | undefined): ChatPageMode {
  const mode = option ?? (process.env.XIPU_SIM_CHAT_PAGE || 'lists-on-click')
  if (!CHAT_PAGE_MODES.includes(mode as ChatPageMode)) {
    throw new Error(`Simulator: chatPage (XIPU_SIM_CHAT_PAGE) must be one of ${CHAT_PAGE_MODES.join(', ')}, not "${mode}"`)
  }
  return mode as ChatPageMode
}

export interface RecordedCall {
  at: number
  endpoint: string
  method: string
  query: Record<string, string>
  headers: Record<string, string>
  body: unknown
  /** Status the simulator answered (0 for a dropped connection). */
  status: number
  note?: string
}

export interface SimSession {
  id: number
  owner: string
  name: string
  model: string
  temperature: number
  maxToken: number
  presencePenalty: number
  frequencyPenalty: number
  contextCount: number
  createdAt: number
  history: Array<{ user: string; assistant: string }>
}

/** One uploaded file, as the simulated file host keeps it. */
export interface SimUpload {
  type: string
  size: number
  name: string
  /** Hex SHA-256 of `bytes`. */
  sha256: string
  bytes: Uint8Array
  /** The form's `lang` field, as sent. */
  lang?: string
}

export interface Fault {
  /** `status`: reply with that HTTP status; `network`: drop the connection; `stall`: never answer. */
  kind: 'status' | 'network' | 'stall'
  status?: number
  message?: string
  body?: unknown
  /** How many calls it hits (default 1). */
  times?: number
}

/** Creates the state of one simulated platform. */
export function createSimulatorState(options: SimulatorOptions = {}) {
  const resolved = {
    minGapMs: options.minGapMs ?? 1000,
    sessionCap: options.sessionCap ?? 50,
    tokenTtlMs: options.tokenTtlMs ?? 4 * 3600_000,
    users: options.users ?? { demo: 'demo-password' },
    firstByteDelayMs: options.firstByteDelayMs ?? 0,
    apiPath: options.apiPath ?? '/jmapi/api/chat',
    loginStepDelayMs: options.loginStepDelayMs ?? 0,
    breakLoginStep: options.breakLoginStep,
    chatPage: _chatPageMode(options.chatPage),
    catalog: options.catalog,
    streamEnding: { result: options.streamEnding?.result ?? true, done: options.streamEnding?.done ?? true },
    contextCount: options.contextCount ?? 'always',
    wordFilter: options.wordFilter ?? ('empty' as WordFilterReply),
  }
  const tokens = createTokenIssuer({ ttlMs: resolved.tokenTtlMs })
  const sessions = new Map<number, SimSession>()
  const lastCallAt = new Map<string, number>()
  const faults = new Map<string, Fault[]>()
  const calls: RecordedCall[] = []
  // Ids start high and far apart from 0 so that a client mixing up ids and indexes is caught.
  let nextId = 40_001
  let publicUrl = 'http://127.0.0.1'

  const state = {
    options: resolved,
    tokens,
    sessions,
    /** What each upload received, by the URL it answered: tests compare `bytes` with what they sent. */
    uploads: new Map<string, SimUpload>(),
    calls,
    /** Completion streams open right now. */
    streamsOpen: 0,
    /** Completion streams the client closed before the answer was complete. */
    streamsAborted: 0,
    /** Calls refused with 429 so far. */
    rateLimited: 0,

    record(call: Omit<RecordedCall, 'at' | 'status'>): RecordedCall {
      const recorded: RecordedCall = { ...call, at: performance.now(), status: 0 }
      calls.push(recorded)
      return recorded
    },

    /** Whether a call of `user` at `at` keeps the gap; every call, refused or not, restarts it. */
    admitRate(user: string, at: number): boolean {
      const last = lastCallAt.get(user)
      lastCallAt.set(user, at)
      if (last !== undefined && at - last < resolved.minGapMs) {
        state.rateLimited++
        return false
      }
      return true
    },

    /** Makes the next call(s) to `endpoint` fail (`*` for any endpoint). */
    injectFault(endpoint: string, fault: Fault): void {
      const list = faults.get(endpoint) ?? []
      list.push({ ...fault, times: fault.times ?? 1 })
      faults.set(endpoint, list)
    },

    takeFault(endpoint: string): Fault | undefined {
      for (const key of [endpoint, '*']) {
        const list = faults.get(key)
        const fault = list?.[0]
        if (!fault) continue
        fault.times = (fault.times ?? 1) - 1
        if (fault.times <= 0) list.shift()
        return fault
      }
      return undefined
    },

    createSession(owner: string, fields: Omit<SimSession, 'id' | 'owner' | 'createdAt' | 'history'>): SimSession {
      const session: SimSession = { id: nextId, owner, createdAt: Date.now(), history: [], ...fields }
      nextId += 7
      sessions.set(session.id, session)
      return session
    },

    sessionsOf(user: string): SimSession[] {
      return [...sessions.values()].filter((s) => s.owner === user)
    },

    checkPassword(username: string, password: string): boolean {
      return Object.hasOwn(resolved.users, username) && resolved.users[username] === password
    },

    /** Seed of the deterministic cuts of a reply. */
    seedFor(text: string): number {
      return createHash('sha256').update(text).digest().readUInt32LE(0)
    },

    publicUrl: () => publicUrl,
    setPublicUrl(url: string): void {
      publicUrl = url
    },
  }

  const firstUser = Object.keys(resolved.users)[0]
  for (const name of options.seedWebChats ?? []) {
    if (firstUser) state.createSession(firstUser, { name, model: 'gpt-4.1', temperature: 0.7, maxToken: 0, presencePenalty: 0, frequencyPenalty: 0, contextCount: 4 })
  }
  return state
}

export type SimulatorState = ReturnType<typeof createSimulatorState>
