/**
 * The doctor (`npx tsx adapter.ts --check`): tries, gently, every platform
 * call the adapter relies on, through the adapter's own client and pacer,
 * about ten calls in all, and reports one line per check. Nobody on the team
 * can reach the real platform: when it differs from what we assumed, this
 * report is how a user, and we, find out what.
 */
import { createJournal } from '../sessions/journal.ts'
import type { Settings } from '../settings.ts'
import { isSuccessCode } from '../xipu/events.ts'
import { isXipuError } from '../errors.ts'
import { inspectCatalog } from './catalog-shape.ts'
import { checkCredentials, checkEnvFile, checkToken } from './local.ts'
import { createProbe, waitForQuietAccount, type Probe } from './probe.ts'
import { checkLine, exitCodeOf, type CheckLine, type DoctorReport } from './report.ts'
import { runSessionChecks } from './session-checks.ts'

export interface DoctorOptions {
  /** The settings as the adapter reads them (`.env`, then the environment). */
  settings: () => Settings
  /** Also check the login page with a browser (`--login`). */
  login?: boolean
  /** The model to check with (default: the first multimodal model of the catalog). */
  model?: string
  /** Called with each line as it is known, for a report that prints as it goes. */
  onLine?: (line: CheckLine) => void
}

// Checks not run because an earlier one made them pointless, in report order.
const PLATFORM_CHECKS: Array<[string, string]> = [
  ['catalog', 'catalog'],
  ['session', 'session'],
  ['completion', 'completion'],
  ['history', 'history'],
  ['upload', 'upload'],
  ['delete', 'delete'],
]

/**
 * @example
 * const report = await runDoctor({ settings: () => store.get() })
 * process.exitCode = report.exitCode
 */
export async function runDoctor(options: DoctorOptions): Promise<DoctorReport> {
  const settings = options.settings()
  const checks: CheckLine[] = []
  const add = (...lines: CheckLine[]) => {
    for (const line of lines) {
      checks.push(line)
      options.onLine?.(line)
    }
  }
  add(checkEnvFile(settings), checkCredentials(settings), checkToken(settings))

  const tokenLine = checks.find((c) => c.id === 'token')!
  if (!settings.jmToken || tokenLine.details?.jwt === false) {
    add(checkLine('api', 'API base', 'skip', `${settings.apiBase}: not tried without a usable token`))
    _skipRest(add, 'no usable token')
  } else {
    const probe = createProbe(options.settings)
    await waitForQuietAccount(settings)
    const reached = await _checkApiAndCatalog(probe, settings, add)
    if (reached) {
      const model = options.model ?? reached.multimodal[0] ?? reached.ids[0] ?? 'gpt-4.1'
      const journal = createJournal({ stateDir: settings.stateDir, apiBase: () => options.settings().apiBase })
      add(...(await runSessionChecks({ probe, journal, model, multimodal: reached.multimodal.includes(model) })))
    }
    add(_rateLine(probe, settings))
    if (options.login) {
      const { checkLoginPage } = await import('./login-check.ts')
      add(await checkLoginPage(options.settings(), probe.pacer))
    }
  }
  if (!options.login) add(checkLine('login', 'login page', 'skip', 'not checked: add --login to try the browser login and its selectors'))

  return {
    tool: 'xipu-openai doctor',
    at: new Date().toISOString(),
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    apiBase: settings.apiBase,
    checks,
    exitCode: exitCodeOf(checks),
  }
}

/** `GET config`: does the API base answer, does it take the token, what does the catalog look like. */
async function _checkApiAndCatalog(probe: Probe, settings: Settings, add: (...lines: CheckLine[]) => void): Promise<{ ids: string[]; multimodal: string[] } | undefined> {
  let raw: unknown
  const started = performance.now()
  let error: unknown
  try {
    await probe.call('config', (o) => probe.client.getCatalog(o), (r) => (raw = r))
  } catch (caught) {
    error = caught
  }
  const ms = Math.round(performance.now() - started)
  const answered = raw !== undefined && isSuccessCode((raw as { code?: unknown } | undefined)?.code)
  if (!answered) {
    const message = error ? (error as Error).message : 'no reply'
    if (isXipuError(error, 'E_TOKEN_EXPIRED')) {
      add(checkLine('api', 'API base', 'fail', `${settings.apiBase} answers, but refused the token (HTTP ${error.upstreamStatus ?? 403}): it has expired or was revoked`, { advice: 'Run npx tsx auth.ts to log in again.', details: { answered: true, tokenAccepted: false, ms } }))
    } else if (isXipuError(error, 'E_UNREACHABLE')) {
      add(checkLine('api', 'API base', 'fail', `${settings.apiBase} could not be reached: ${message}`, { advice: 'Check the network (on campus, or the VPN) and XIPU_API_BASE; npx tsx auth.ts records the base the chat page uses.', details: { answered: false, ms } }))
    } else {
      add(checkLine('api', 'API base', 'fail', `${settings.apiBase}: ${message}`, { advice: 'Please report it with npx tsx adapter.ts --check --json.', details: { answered: raw !== undefined, ms } }))
    }
    _skipRest(add, 'the API did not answer')
    return undefined
  }
  add(checkLine('api', 'API base', 'ok', `${settings.apiBase} answers and takes the token (config in ${ms} ms)`, { details: { answered: true, tokenAccepted: true, ms } }))
  const catalog = inspectCatalog(raw)
  add(catalog.line)
  return { ids: catalog.ids, multimodal: catalog.multimodal }
}

function _rateLine(probe: Probe, settings: Settings): CheckLine {
  const gap = probe.smallestGap()
  const limited = probe.rateLimited()
  const calls = probe.calls.length
  const gapText = gap === undefined ? 'one call' : `${calls} calls, at least ${gap} ms apart`
  const details = { calls, smallestGapMs: gap ?? null, minGapMs: settings.minGapMs, rateLimited: limited }
  if (limited > 0) {
    return checkLine('rate', 'rate limit', 'warn', `${gapText} (XIPU_MIN_GAP_MS=${settings.minGapMs}); ${limited} answered 429 Request too fast`, {
      advice: 'Another program may share the account (the web chat, another adapter); if this repeats with nothing else running, raise XIPU_MIN_GAP_MS.',
      details,
    })
  }
  return checkLine('rate', 'rate limit', 'ok', `${gapText} (XIPU_MIN_GAP_MS=${settings.minGapMs}); no 429`, { details })
}

function _skipRest(add: (...lines: CheckLine[]) => void, why: string): void {
  for (const [id, title] of PLATFORM_CHECKS) add(checkLine(id, title, 'skip', `not tried: ${why}`))
}
