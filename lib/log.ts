/**
 * consola, with every argument passed through the redactor first, and an
 * optional rotating log file (`XIPU_LOG_FILE`). Each script takes its own
 * tagged logger: `const log = createLogger('adapter')`.
 */
import { appendFileSync, mkdirSync, renameSync, rmSync, statSync } from 'node:fs'
import { dirname } from 'node:path'
import { format } from 'node:util'
import { createConsola, type ConsolaInstance, type ConsolaReporter, type LogObject } from 'consola'
import { redactValue } from './redact.ts'
import { readEnvironmentSetting } from './settings.ts'

// Rotate at 5 MiB and keep three old files: weeks of request logs in ~20 MiB.
const LOG_FILE_MAX_BYTES = 5 * 1024 * 1024
const LOG_FILE_KEEP = 3

// XIPU_LOG_LEVEL is read from the process environment only (0 errors only … 3 info … 5 trace):
// logging starts before any .env is read.
const _root: ConsolaInstance = createConsola({
  level: readEnvironmentSetting('XIPU_LOG_LEVEL'),
})
const _screenReporters = [..._root.options.reporters]
let _logFile: string | undefined

const _redactingReporter: ConsolaReporter = {
  log(logObj, ctx) {
    const clean: LogObject = { ...logObj, args: logObj.args.map(redactValue) }
    if (typeof clean.message === 'string') clean.message = redactValue(clean.message) as string
    for (const reporter of _screenReporters) reporter.log(clean, ctx)
    if (_logFile) _appendToLogFile(_logFile, clean)
  },
}
_root.setReporters([_redactingReporter])

function _appendToLogFile(file: string, logObj: LogObject): void {
  try {
    mkdirSync(dirname(file), { recursive: true })
    try {
      if (statSync(file).size > LOG_FILE_MAX_BYTES) _rotate(file)
    } catch {
      // No file yet: nothing to rotate.
    }
    const tag = logObj.tag ? ` [${logObj.tag}]` : ''
    const text = format(...logObj.args.map((a) => (a instanceof Error ? a.stack ?? a.message : a)))
    appendFileSync(file, `${logObj.date.toISOString()} ${logObj.type}${tag} ${text}\n`, { mode: 0o600 })
  } catch {
    // A log file that cannot be written must never take the adapter down.
  }
}

function _rotate(file: string): void {
  rmSync(`${file}.${LOG_FILE_KEEP}`, { force: true })
  for (let i = LOG_FILE_KEEP - 1; i >= 1; i--) {
    try {
      renameSync(`${file}.${i}`, `${file}.${i + 1}`)
    } catch {
      // That generation does not exist yet.
    }
  }
  renameSync(file, `${file}.1`)
}

/**
 * A tagged, redacting logger.
 *
 * @example
 * const log = createLogger('auth')
 * log.info('Token saved', maskSecret(token))
 */
export function createLogger(tag: string): ConsolaInstance {
  return _root.withTag(tag)
}

/** Also write every log line (redacted) to `file`, rotated at 5 MiB. `undefined` stops it. */
export function setLogFile(file: string | undefined): void {
  _logFile = file
}

/** Sets the log level of every logger (0 silent … 3 info … 5 trace). */
export function setLogLevel(level: number): void {
  _root.level = level
}
