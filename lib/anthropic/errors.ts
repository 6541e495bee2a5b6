/**
 * Errors in Anthropic's shape, `{"type":"error","error":{"type","message"}}`,
 * at the statuses Anthropic uses. The message (redacted) and the first
 * mapping come from the one OpenAI mapping (lib/openai/errors.ts); this only
 * renames, so both APIs say the same thing about the same failure.
 */
import { toOpenAIError } from '../openai/errors.ts'

export interface AnthropicErrorBody {
  type: 'error'
  error: { type: string; message: string }
}

// Our waiting line is full, too slow, or closing: Anthropic's "overloaded", which clients retry.
const _OVERLOADED = new Set(['queue_full', 'queue_timeout', 'shutting_down'])

const _TYPE_BY_STATUS: Record<number, string> = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  403: 'permission_error',
  404: 'not_found_error',
  413: 'request_too_large',
  429: 'rate_limit_error',
}

/**
 * @example
 * const { status, body, headers } = toAnthropicError(error)
 */
export function toAnthropicError(error: unknown): { status: number; body: AnthropicErrorBody; headers: Record<string, string> } {
  const { status, body, headers } = toOpenAIError(error)
  const message = body.error.message
  if (body.error.code && _OVERLOADED.has(body.error.code)) return { status: 529, headers, body: { type: 'error', error: { type: 'overloaded_error', message } } }
  const type = _TYPE_BY_STATUS[status]
  if (type) return { status, headers, body: { type: 'error', error: { type, message } } }
  // Anthropic answers every other failure of its own as a 500 api_error (a session cap, an upstream error).
  if (status >= 500 || status === 409) return { status: 500, headers, body: { type: 'error', error: { type: 'api_error', message } } }
  return { status, headers, body: { type: 'error', error: { type: 'invalid_request_error', message } } }
}

/** The mapped error as a `Response`. */
export function toAnthropicErrorResponse(error: unknown): Response {
  const { status, body, headers } = toAnthropicError(error)
  return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json', ...headers } })
}
