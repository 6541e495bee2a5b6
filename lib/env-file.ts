/**
 * Reads and writes `.env` files the way a person keeps them: every other key,
 * comment and blank line stays where it was; values that need it are quoted;
 * the file is written to a temporary file and renamed over the old one (so a
 * crash never leaves half a file), with mode 0600 (it holds a password).
 */
import { readFileSync, statSync } from 'node:fs'
import { writeFileAtomic } from './atomic-write.ts'
import { XipuError } from './errors.ts'

const LINE_PATTERN = /^\s*(?:export\s+)?([\w.-]+)\s*=\s*(.*)?$/

/**
 * Parses `.env` text into key/value pairs (dotenv rules: `export` allowed,
 * single, double or back quotes, `#` comments after unquoted values, `\n` in
 * double quotes).
 *
 * @example
 * parseEnv('A=1\n# note\nB="two words" # why') // { A: '1', B: 'two words' }
 * @internal test hook: outside this module only tests use it.
 */
export function parseEnv(text: string): Record<string, string> {
  const out: Record<string, string> = {}
  for (const line of text.split(/\r?\n/)) {
    const match = LINE_PATTERN.exec(line)
    if (!match) continue
    out[match[1]!] = _parseValue(match[2] ?? '')
  }
  return out
}

function _parseValue(raw: string): string {
  const value = raw.trim()
  const quote = value[0]
  if (quote === '"' || quote === "'" || quote === '`') {
    const end = _closingQuote(value, quote)
    if (end > 0) {
      const inner = value.slice(1, end)
      if (quote !== '"') return inner
      return inner.replace(/\\([nrt"\\$])/g, (_, c: string) => ({ n: '\n', r: '\r', t: '\t' })[c] ?? c)
    }
  }
  const hash = value.search(/\s#/)
  return (hash === -1 ? value : value.slice(0, hash)).trim()
}

function _closingQuote(value: string, quote: string): number {
  for (let i = 1; i < value.length; i++) {
    if (value[i] === '\\' && quote === '"') i++
    else if (value[i] === quote) return i
  }
  return -1
}

/**
 * Formats a value for a `.env` line, quoting it only when it needs quotes.
 *
 * @example
 * formatEnvValue('abc') // 'abc'
 * formatEnvValue('a b#c') // '"a b#c"'
 */
export function formatEnvValue(value: string): string {
  if (value === '' || /^[\w@%+=:,./~-]+$/.test(value)) return value
  const escaped = value
    .replace(/\\/g, '\\\\')
    .replace(/"/g, '\\"')
    .replace(/\n/g, '\\n')
    .replace(/\r/g, '\\r')
    .replace(/\$/g, '\\$')
  return `"${escaped}"`
}

/** Reads and parses an `.env` file; a file that does not exist reads as empty. */
export function readEnvFile(path: string): Record<string, string> {
  const text = _readText(path)
  return text === undefined ? {} : parseEnv(text)
}

function _readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw new XipuError('E_ENV_FILE', `Cannot read ${path}: ${(error as Error).message}`, { cause: error })
  }
}

/**
 * Sets (or, with `undefined`, removes) keys in an `.env` file, keeping every
 * other line as it was, and replaces the file atomically with mode 0600.
 *
 * @example
 * updateEnvFile('.env', { JM_TOKEN: token, SDP_SESSION: session })
 */
export function updateEnvFile(path: string, updates: Record<string, string | undefined>): void {
  const text = _readText(path) ?? ''
  const newline = text.includes('\r\n') ? '\r\n' : '\n'
  const lines = text === '' ? [] : text.split(/\r?\n/)
  if (lines.length > 0 && lines.at(-1) === '') lines.pop()
  const rewritten = new Set<string>()

  const kept: string[] = []
  for (const line of lines) {
    const key = LINE_PATTERN.exec(line)?.[1]
    if (key === undefined || !Object.hasOwn(updates, key)) {
      kept.push(line)
      continue
    }
    // A later duplicate of a key we rewrote would override it: drop it.
    if (rewritten.has(key)) continue
    rewritten.add(key)
    const value = updates[key]
    if (value !== undefined) kept.push(`${key}=${formatEnvValue(value)}`)
  }
  for (const [key, value] of Object.entries(updates)) {
    if (!rewritten.has(key) && value !== undefined) kept.push(`${key}=${formatEnvValue(value)}`)
  }
  writeFileAtomic(path, kept.length > 0 ? kept.join(newline) + newline : '')
}

/** The modification stamp of a file (changes whenever the file is replaced), or '' when missing. */
export function fileStamp(path: string): string {
  try {
    const stat = statSync(path)
    return `${stat.mtimeMs}:${stat.size}:${stat.ino}`
  } catch {
    return ''
  }
}
