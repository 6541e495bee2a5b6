/**
 * The one runner of our top-level scripts. It owns what belongs to an entry
 * point and to no domain module: the flags (and `--help`), how a failure is
 * printed (one line that says what to do next; a stack trace only when
 * `XIPU_LOG_LEVEL` is 4 or more) and the exit code. Domain modules throw a
 * `XipuError` with a code; each script maps the codes it cares about to exit
 * codes, usage errors exit 2, every other failure 1.
 */
import { parseArgs } from 'node:util'
import type { ConsolaInstance } from 'consola'
import { isXipuError, XipuError, type ErrorCode } from './errors.ts'
import { createLogger } from './log.ts'

// Long enough to flush piped output; short enough that a stray handle
// (a socket, a prompt's stdin) cannot keep a finished script alive.
const EXIT_GRACE_MS = 2000

/** Exit code of a script called with flags it does not take (as usual for usage errors). */
export const USAGE_EXIT_CODE = 2

/** One flag: a switch or a value, with the line `--help` shows for it. */
export type FlagSpec = { type: 'boolean'; short?: string; description: string } | { type: 'string'; short?: string; description: string; default?: string; valueName?: string }

type FlagValues<F extends Record<string, FlagSpec>> = {
  [K in keyof F]: F[K] extends { type: 'boolean' } ? boolean | undefined : F[K] extends { default: string } ? string : string | undefined
}

export interface ScriptSpec<F extends Record<string, FlagSpec>> {
  /** The script's file, like `expire.ts`: the logger's tag and the usage line's command. */
  script: string
  /** What it does, in a line or two, for `--help`. */
  about: string
  flags: F
  /** Exit codes for expected failures, by error code (others exit 1; usage errors 2). */
  exitCodes?: Partial<Record<ErrorCode, number>>
  /** The script itself; its return value (default 0) is the exit code. Long-running scripts resolve once stopped. */
  main: (context: { flags: FlagValues<F>; log: ConsolaInstance }) => Promise<number | void> | number | void
}

/** A script's spec without its `main`: what help, usage and error reports need. */
type ScriptFacts = Omit<ScriptSpec<Record<string, FlagSpec>>, 'main'>

/**
 * Runs a script: parses its flags (`--help` prints the usage and exits 0; a
 * wrong flag prints one line and the usage and exits 2), runs `main`, and
 * turns what it returns or throws into output and an exit code.
 *
 * @example
 * runScript({
 *   script: 'expire.ts',
 *   about: 'Shows when the saved token expires.',
 *   flags: { json: { type: 'boolean', description: 'print JSON for scripts' } },
 *   exitCodes: { E_NO_TOKEN: 2 },
 *   main: ({ flags, log }) => (expired ? 1 : 0),
 * })
 */
export function runScript<const F extends Record<string, FlagSpec>>(spec: ScriptSpec<F>, args = process.argv.slice(2)): void {
  const log = createLogger(spec.script.replace(/\.ts$/, ''))
  Promise.resolve()
    .then(() => {
      const flags = _parseFlags(spec, args)
      if (flags === 'help') {
        process.stdout.write(formatHelp(spec))
        return 0
      }
      return spec.main({ flags, log })
    })
    .then(
      (code) => _exit(code ?? 0),
      (error: unknown) => _exit(_report(error, spec, log)),
    )
}

/**
 * An error for a script called wrongly (a missing or bad flag value): the
 * runner prints its message and the usage, and exits 2.
 *
 * @example
 * if (!username) throw usageError('--password-stdin needs --username NAME.')
 */
export function usageError(message: string): XipuError {
  return new XipuError('E_USAGE', message)
}

/** The one-line usage: `npx tsx simulator.ts [--port N] [--gap MS]`. */
export function formatUsage(spec: Pick<ScriptFacts, 'script' | 'flags'>): string {
  const flags = Object.entries(spec.flags).map(([name, flag]) => (flag.type === 'boolean' ? `[--${name}]` : `[--${name} ${flag.valueName ?? 'VALUE'}]`))
  return `npx tsx ${spec.script}${flags.length ? ` ${flags.join(' ')}` : ''}`
}

/** What `--help` prints: usage, what the script does, one line per flag. */
export function formatHelp(spec: ScriptFacts): string {
  const rows = Object.entries(spec.flags).map(([name, flag]) => {
    const left = `${flag.short ? `-${flag.short}, ` : ''}--${name}${flag.type === 'string' ? ` ${flag.valueName ?? 'VALUE'}` : ''}`
    const fallback = flag.type === 'string' && flag.default !== undefined ? ` (default ${flag.default})` : ''
    return [left, `${flag.description}${fallback}`] as const
  })
  rows.push(['-h, --help', 'show this help'])
  const width = Math.max(...rows.map(([left]) => left.length))
  return [`Usage: ${formatUsage(spec)}`, '', spec.about, '', ...rows.map(([left, right]) => `  ${left.padEnd(width)}  ${right}`), ''].join('\n')
}

function _parseFlags<F extends Record<string, FlagSpec>>(spec: ScriptSpec<F>, args: string[]): FlagValues<F> | 'help' {
  const options: Record<string, { type: 'boolean' | 'string'; short?: string; default?: string }> = { help: { type: 'boolean', short: 'h' } }
  for (const [name, flag] of Object.entries(spec.flags)) {
    options[name] = { type: flag.type, ...(flag.short ? { short: flag.short } : {}), ...(flag.type === 'string' && flag.default !== undefined ? { default: flag.default } : {}) }
  }
  let values: Record<string, unknown>
  try {
    values = parseArgs({ args, options, strict: true, allowPositionals: false }).values
  } catch (error) {
    const code = (error as { code?: string }).code
    if (!code?.startsWith('ERR_PARSE_ARGS')) throw error
    throw usageError(_explainParseError(error as Error & { code?: string }, args))
  }
  return values.help ? 'help' : (values as FlagValues<F>)
}

/** Node's parseArgs messages run to three sentences; the user needs one. */
function _explainParseError(error: Error & { code?: string }, args: string[]): string {
  const quoted = /'(-[^' ]+)/.exec(error.message)?.[1]
  switch (error.code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
      return `Unknown flag ${quoted ?? args.find((a) => a.startsWith('-')) ?? ''}.`
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE':
      return /argument missing/.test(error.message) ? `${quoted ?? 'A flag'} needs a value.` : `${quoted ?? 'A flag'} takes no value.`
    case 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL':
      return `Unexpected argument ${/'([^']*)'/.exec(error.message)?.[1] ?? ''}: every argument is a --flag.`
    default:
      return error.message.split('\n')[0] ?? 'Wrong flags.'
  }
}

function _report(error: unknown, spec: ScriptFacts, log: ConsolaInstance): number {
  log.debug(error)
  if (isXipuError(error, 'E_USAGE')) {
    log.error(error.message)
    process.stderr.write(`Usage: ${formatUsage(spec)}  (--help for more)\n`)
    return USAGE_EXIT_CODE
  }
  if (isXipuError(error)) {
    log.error(error.message)
    return spec.exitCodes?.[error.code] ?? 1
  }
  log.error(`Unexpected error: ${error instanceof Error ? error.message : String(error)}`)
  return 1
}

function _exit(code: number): void {
  // Setting the code (instead of process.exit) lets pending output drain.
  process.exitCode = code
  setTimeout(() => process.exit(code), EXIT_GRACE_MS).unref()
}

/**
 * Resolves with the name of the first SIGINT or SIGTERM: how a long-running
 * script (adapter, keepalive, simulator) learns it should stop.
 *
 * @example
 * const signal = await waitForStopSignal()
 * log.info(`${signal}: stopping`)
 */
export function waitForStopSignal(): Promise<'SIGINT' | 'SIGTERM'> {
  return new Promise((resolve) => {
    const onInt = () => done('SIGINT')
    const onTerm = () => done('SIGTERM')
    const done = (signal: 'SIGINT' | 'SIGTERM') => {
      process.off('SIGINT', onInt)
      process.off('SIGTERM', onTerm)
      resolve(signal)
    }
    process.once('SIGINT', onInt)
    process.once('SIGTERM', onTerm)
  })
}
