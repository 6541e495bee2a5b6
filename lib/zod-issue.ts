/**
 * A failed schema check as a 400 that names the parameter, in the words a
 * client understands ("Invalid value for 'input[2].role': is required.").
 * zod's own message for a failed union is just "Invalid input".
 */
import type { ZodError } from 'zod'
import { XipuError } from './errors.ts'

/** `['messages', 2, 'role']` → `messages[2].role`. */
export function formatZodPath(path: PropertyKey[]): string {
  return path.reduce<string>((out, key) => (typeof key === 'number' ? `${out}[${key}]` : out ? `${out}.${String(key)}` : String(key)), '')
}

/**
 * The first issue of `error` as an `E_BAD_REQUEST`.
 *
 * @example
 * if (!parsed.success) throw describeZodIssue(parsed.error)
 */
export function describeZodIssue(error: ZodError): XipuError {
  const issue = error.issues[0]!
  const param = formatZodPath(issue.path) || 'body'
  const detail =
    issue.code === 'invalid_type'
      ? issue.received === 'undefined'
        ? 'is required'
        : `must be ${issue.expected} (got ${issue.received})`
      : issue.message.replace(/^Invalid input$/, 'is not valid')
  return new XipuError('E_BAD_REQUEST', `Invalid value for '${param}': ${detail}.`, { param })
}
