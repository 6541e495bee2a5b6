/**
 * The doctor's report: one line per check with what was seen, as text for a
 * person (✔ ✘ ! –) or as JSON for a bug report. Both are written from the
 * same lines, and the JSON is redacted once more on the way out, so that a
 * secret a check let slip still cannot reach an issue tracker.
 */
import { homedir } from 'node:os'
import { redactText } from '../redact.ts'

/** `ok`: as the adapter needs it; `warn`: works, but worth knowing; `fail`: the adapter cannot work; `skip`: not tried. */
export type CheckStatus = 'ok' | 'warn' | 'fail' | 'skip'

export interface CheckLine {
  /** Stable key for scripts reading `--json` (`token`, `catalog`, `completion`, …). */
  id: string
  /** Short name, shown in the first column. */
  title: string
  status: CheckStatus
  /** What was seen, in one sentence. */
  seen: string
  /** What to do about it (for `fail` and `warn`). */
  advice?: string
  /** Facts behind the line, for `--json`; never a secret or personal data. */
  details?: Record<string, unknown>
}

export interface DoctorReport {
  tool: 'xipu-openai doctor'
  /** When the checks ran (ISO time). */
  at: string
  node: string
  platform: string
  apiBase: string
  checks: CheckLine[]
  /** 0 when nothing the adapter needs failed, else 1. */
  exitCode: 0 | 1
}

const MARK: Record<CheckStatus, string> = { ok: '✔', warn: '!', fail: '✘', skip: '–' }
const TITLE_WIDTH = 14

/**
 * @example
 * const line = checkLine('token', 'token', 'ok', 'expires in 3h 59m')
 */
export function checkLine(id: string, title: string, status: CheckStatus, seen: string, extra: { advice?: string; details?: Record<string, unknown> } = {}): CheckLine {
  return { id, title, status, seen, ...extra }
}

/** The exit code of a set of lines: 1 as soon as one failed. */
export function exitCodeOf(checks: CheckLine[]): 0 | 1 {
  return checks.some((c) => c.status === 'fail') ? 1 : 0
}

/**
 * One check as terminal lines: a mark, the check, what was seen, and the
 * advice under a failed or doubtful line.
 *
 * @example
 * formatCheck(line) // ['✘ API base       https://… refused the token', '               → Run npx tsx auth.ts to log in again.']
 */
export function formatCheck(check: CheckLine): string[] {
  const out = [`${MARK[check.status]} ${check.title.padEnd(TITLE_WIDTH)} ${redactText(hideHome(check.seen))}`]
  if (check.advice && (check.status === 'fail' || check.status === 'warn')) out.push(`  ${' '.repeat(TITLE_WIDTH)}→ ${redactText(check.advice)}`)
  return out
}

/** The closing lines: the verdict, and how to share the report. */
export function formatSummary(checks: CheckLine[]): string[] {
  const failed = checks.filter((c) => c.status === 'fail').length
  const warned = checks.filter((c) => c.status === 'warn').length
  const passed = checks.filter((c) => c.status === 'ok').length
  const verdict =
    failed > 0
      ? `${failed} check(s) failed, ${passed} passed: the adapter cannot work until the ✘ lines are fixed.`
      : `All well: ${passed} checks passed${warned > 0 ? `, ${warned} worth a look (!)` : ''}.`
  return ['', verdict, 'For a bug report, paste the output of: npx tsx adapter.ts --check --json']
}

/**
 * The whole report as lines for a terminal.
 *
 * @example
 * for (const line of formatReport(report)) console.log(line)
 */
export function formatReport(report: DoctorReport): string[] {
  return [...report.checks.flatMap(formatCheck), ...formatSummary(report.checks)]
}

/**
 * The report as JSON text for a bug report: secrets and JWTs masked again,
 * the home folder (which names the user) shortened to `~`.
 *
 * @example
 * console.log(formatReportJson(report))
 */
export function formatReportJson(report: DoctorReport): string {
  return redactText(hideHome(JSON.stringify(report, null, 2)))
}

/** `/home/san.zhang/xipu/.env` → `~/xipu/.env`: the home folder's name is often the user's. */
export function hideHome(text: string): string {
  const home = homedir()
  if (!home || home === '/') return text
  return text.split(home).join('~').split(JSON.stringify(home).slice(1, -1)).join('~')
}

/**
 * Masks an id or a name: enough to tell two apart in one report, not to look them up.
 *
 * @example
 * maskId(40001) // '4***1'
 */
export function maskId(value: string | number | undefined): string {
  const text = String(value ?? '')
  if (text.length <= 2) return '***'
  return `${text[0]}***${text.at(-1)}`
}
