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

// Control characters a request or the platform could put in a logged field (a model name, an id,
// an error message) to forge a log line or drive the terminal: C0 but tab and newline, DEL, C1,
// the Unicode line and paragraph separators, and the bidirectional overrides ("Trojan Source").
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g
const CONTROL_OR_NEWLINE = /[\u0000-\u0008\u000a-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g
// A line break inside one log entry starts its next line this far in: it can never pass for an entry of its own.
const CONTINUATION = '\n    '

function _escapeChar(char: string): string {
  if (char === '\n') return '\\n'
  if (char === '\r') return '\\r'
  const code = char.charCodeAt(0)
  return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`
}

/**
 * A value made safe for one log line: every control character, newline
 * included, written as its escape (`\n`, `\x1b`, `\x07`, …). For fields that
 * come from a request or the platform: model names, ids, platform messages.
 *
 * @example
 * escapeLogField('gpt\n[FAKE] ok\x1b[31m') // 'gpt\\n[FAKE] ok\\x1b[31m'
 */
export function escapeLogField(value: string): string {
  return value.replace(CONTROL_OR_NEWLINE, _escapeChar)
}

/**
 * What the logging layer does to every message: control characters escaped
 * (a terminal escape or a bell never reaches the console or the log file);
 * line breaks kept, but each further line indented, so that text from a
 * request cannot start a line that looks like a log entry of its own. Boxes
 * (our banners) keep their lines as they are.
 */
function _sanitize(text: string, box: boolean): string {
  const escaped = text.replace(CONTROL, _escapeChar)
  return box ? escaped : escaped.replace(/\n/g, CONTINUATION)
}

function _sanitizeValue(value: unknown, box: boolean): unknown {
  if (typeof value === 'string') return _sanitize(value, box)
  if (value instanceof Error) {
    value.message = _sanitize(value.message, box)
    if (value.stack) value.stack = _sanitize(value.stack, box)
  }
  return value
}

const _redactingReporter: ConsolaReporter = {
  log(logObj, ctx) {
    const box = logObj.type === 'box'
    const clean: LogObject = { ...logObj, args: logObj.args.map((arg) => _sanitizeValue(redactValue(arg), box)) }
    if (typeof clean.message === 'string') clean.message = _sanitize(redactValue(clean.message) as string, box)
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
