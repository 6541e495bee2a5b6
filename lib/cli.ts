/**
 * The one way our scripts end: an expected failure (`XipuError`) prints its
 * message, which says what to do next, and exits with its code; anything else
 * prints a redacted one-line message and exits 1. No stack traces unless
 * `XIPU_LOG_LEVEL` is 4 (debug) or more.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util'
import type { ConsolaInstance } from 'consola'
import { isXipuError, XipuError } from './errors.ts'
import { createLogger } from './log.ts'

// Long enough to flush piped output; short enough that a stray handle
// (a socket, a prompt's stdin) cannot keep a finished script alive.
const EXIT_GRACE_MS = 2000

/**
 * Runs a script's `main`; its return value (default 0) is the exit code.
 *
 * @example
 * const log = createLogger('expire')
 * runMain(async () => (expired ? 1 : 0), log)
 */
export function runMain(main: () => Promise<number | void> | number | void, log: ConsolaInstance = createLogger('xipu')): void {
  Promise.resolve()
    .then(main)
    .then(
      (code) => _exit(code ?? 0),
      (error: unknown) => {
        if (isXipuError(error)) {
          log.error(error.message)
          log.debug(error)
          _exit(error.exitCode)
          return
        }
        log.error(`Unexpected error: ${error instanceof Error ? error.message : String(error)}`)
        log.debug(error)
        _exit(1)
      },
    )
}

function _exit(code: number): void {
  // Setting the code (instead of process.exit) lets pending output drain.
  process.exitCode = code
  setTimeout(() => process.exit(code), EXIT_GRACE_MS).unref()
}

/**
 * Parses a script's flags; an unknown or malformed flag is an `E_CONFIG`
 * error that shows `usage` (exit code 2, as usual for usage errors).
 *
 * @example
 * const flags = parseFlags({ show: { type: 'boolean' } }, 'npx tsx auth.ts [--show]')
 */
export function parseFlags<const T extends NonNullable<ParseArgsConfig['options']>>(options: T, usage: string, args = process.argv.slice(2)) {
  try {
    return parseArgs({ args, options, strict: true, allowPositionals: false }).values
  } catch (error) {
    throw new XipuError('E_CONFIG', `${(error as Error).message}\nUsage: ${usage}`, { exitCode: 2 })
  }
}
