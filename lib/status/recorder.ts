/**
 * What the status page shows that nothing else keeps: the last 50 requests
 * (every API surface feeds them with one `record` call), the pacer's last
 * calls, and the problems worth knowing (failed requests, warnings and
 * errors the adapter logged: a failed login, the session cap met). All in
 * memory, in small rings: a status page, not a history.
 */
import { format } from 'node:util'
import type { ConsolaInstance, ConsolaReporter } from 'consola'
import { redactText } from '../redact.ts'

const REQUESTS_KEPT = 50
const CALLS_KEPT = 15
const PROBLEMS_KEPT = 20
// The longest prompt excerpt shown (only with XIPU_LOG_PROMPTS): enough to recognise a request.
const PROMPT_EXCERPT_CHARS = 120

export interface RequestRecord {
  /** When the request arrived (ms since epoch). */
  at: number
  /** The API surface: `chat.completions`, `responses`, `messages`, … */
  api: string
  model: string
  stream: boolean
  /** The HTTP status, or what happened after the first byte (`client disconnected`, `error after first byte`). */
  status: string
  /** From arrival to the answer's first token, in ms (none when it failed first). */
  firstTokenMs?: number
  durationMs: number
  /** A masked session id. */
  session?: string
  /** Why it failed, when it did (redacted). */
  error?: string
  /** The prompt's start: only when XIPU_LOG_PROMPTS is on. */
  prompt?: string
}

export interface PacerCallRecord {
  at: number
  label: string
  /** Since the start of the call before, in ms. */
  gapMs?: number
}

export interface ProblemRecord {
  at: number
  level: 'warn' | 'error'
  message: string
}

/**
 * @example
 * const recorder = createStatusRecorder()
 * recorder.record({ at: Date.now(), api: 'chat.completions', model, stream: true, status: '200', firstTokenMs: 812, durationMs: 2400 })
 */
export function createStatusRecorder() {
  const requests: RequestRecord[] = []
  const calls: PacerCallRecord[] = []
  const problems: ProblemRecord[] = []
  let total = 0

  const push = <T>(ring: T[], item: T, max: number) => {
    ring.push(item)
    if (ring.length > max) ring.splice(0, ring.length - max)
  }

  return {
    /** One finished request, from any API surface (the one line each route adds). */
    record(entry: RequestRecord): void {
      total++
      const clean: RequestRecord = { ...entry, error: entry.error === undefined ? undefined : redactText(entry.error) }
      if (entry.prompt !== undefined) clean.prompt = redactText(entry.prompt.slice(0, PROMPT_EXCERPT_CHARS))
      push(requests, clean, REQUESTS_KEPT)
      const code = Number(entry.status)
      if (entry.error && (code >= 500 || code === 401 || code === 403 || code === 429 || !Number.isFinite(code))) {
        push(problems, { at: entry.at + entry.durationMs, level: 'error', message: `${entry.api} ${entry.model} → ${entry.status}: ${clean.error}` }, PROBLEMS_KEPT)
      }
    },
    /** A pacer `onCall` hook: the platform call that just started. */
    noteCall(label: string): void {
      const at = Date.now()
      const before = calls.at(-1)
      push(calls, { at, label, gapMs: before ? at - before.at : undefined }, CALLS_KEPT)
    },
    /**
     * Keeps the warnings and errors `log` (and every logger sharing its
     * reporters) prints, redacted. Returns the function that stops it.
     */
    watchLog(log: ConsolaInstance): () => void {
      const reporter: ConsolaReporter = {
        log(entry) {
          if (entry.type !== 'warn' && entry.type !== 'error' && entry.type !== 'fatal') return
          const text = format(...entry.args.map((a) => (a instanceof Error ? a.message : a)))
          push(problems, { at: entry.date.getTime(), level: entry.type === 'warn' ? 'warn' : 'error', message: redactText(text).slice(0, 500) }, PROBLEMS_KEPT)
        },
      }
      log.addReporter(reporter)
      return () => void log.removeReporter(reporter)
    },
    /** The newest first. */
    requests: () => [...requests].reverse(),
    calls: () => [...calls].reverse(),
    problems: () => [...problems].reverse(),
    /** Requests recorded since the start. */
    total: () => total,
  }
}

export type StatusRecorder = ReturnType<typeof createStatusRecorder>

/**
 * A session id as the status page shows it: enough to tell two apart, not to open them.
 *
 * @example
 * maskSessionId(40001) // '4…01'
 */
export function maskSessionId(id: number | undefined): string | undefined {
  if (id === undefined) return undefined
  const text = String(id)
  return text.length <= 3 ? '…' : `${text[0]}…${text.slice(-2)}`
}
