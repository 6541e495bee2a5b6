/**
 * The one place where an error becomes an HTTP status and an OpenAI error
 * body: `{"error":{"message","type","param","code"}}`.
 */
import { HTTPError } from 'h3'
import { isXipuError, type ErrorCode } from '../errors.ts'
import { redactText } from '../redact.ts'

export interface OpenAIErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null }
}

export interface MappedError {
  status: number
  body: OpenAIErrorBody
  headers: Record<string, string>
}

const _MAP: Record<ErrorCode, { status: number; type: string; code: string }> = {
  E_BAD_REQUEST: { status: 400, type: 'invalid_request_error', code: 'invalid_request' },
  E_NOT_FOUND: { status: 404, type: 'invalid_request_error', code: 'not_found' },
  E_UNAUTHORIZED: { status: 401, type: 'invalid_request_error', code: 'invalid_api_key' },
  E_BODY_TOO_LARGE: { status: 413, type: 'invalid_request_error', code: 'request_too_large' },
  E_HOST_NOT_ALLOWED: { status: 403, type: 'invalid_request_error', code: 'host_not_allowed' },
  E_ORIGIN_NOT_ALLOWED: { status: 403, type: 'invalid_request_error', code: 'origin_not_allowed' },
  E_UNSUPPORTED_MEDIA_TYPE: { status: 415, type: 'invalid_request_error', code: 'unsupported_media_type' },
  E_NO_TOKEN: { status: 401, type: 'authentication_error', code: 'xipu_no_token' },
  E_BAD_TOKEN: { status: 401, type: 'authentication_error', code: 'xipu_bad_token' },
  E_TOKEN_EXPIRED: { status: 401, type: 'authentication_error', code: 'xipu_token_expired' },
  E_RATE_LIMITED: { status: 429, type: 'rate_limit_error', code: 'rate_limit_exceeded' },
  E_SESSION_CAP: { status: 409, type: 'xipu_session_cap', code: 'session_cap_reached' },
  E_UPSTREAM: { status: 502, type: 'upstream_error', code: 'xipu_error' },
  E_UNREACHABLE: { status: 502, type: 'upstream_error', code: 'xipu_unreachable' },
  E_STREAM_TRUNCATED: { status: 502, type: 'upstream_error', code: 'stream_truncated' },
  E_STREAM_STALLED: { status: 504, type: 'upstream_error', code: 'stream_stalled' },
  E_INVALID_OUTPUT: { status: 502, type: 'upstream_error', code: 'invalid_model_output' },
  E_QUEUE_FULL: { status: 429, type: 'rate_limit_error', code: 'queue_full' },
  E_QUEUE_TIMEOUT: { status: 504, type: 'timeout_error', code: 'queue_timeout' },
  E_SHUTTING_DOWN: { status: 503, type: 'server_error', code: 'shutting_down' },
  E_LOGIN_FAILED: { status: 401, type: 'authentication_error', code: 'xipu_login_failed' },
  E_WRONG_PASSWORD: { status: 401, type: 'authentication_error', code: 'xipu_wrong_password' },
  E_NO_CREDENTIALS: { status: 401, type: 'authentication_error', code: 'xipu_no_credentials' },
  E_NO_CHROME: { status: 500, type: 'server_error', code: 'no_chrome' },
  E_CONFIG: { status: 500, type: 'server_error', code: 'config_error' },
  E_ENV_FILE: { status: 500, type: 'server_error', code: 'env_file_error' },
  E_LOCKED: { status: 503, type: 'server_error', code: 'locked' },
  E_ABORTED: { status: 499, type: 'invalid_request_error', code: 'client_closed_request' },
  // Only scripts raise it; listed because every code has its one mapping.
  E_USAGE: { status: 500, type: 'server_error', code: 'usage_error' },
}

/**
 * Maps any error to an OpenAI error response. Unknown errors become a 500
 * whose message is redacted (it may quote a request that held a secret).
 *
 * @example
 * const { status, body, headers } = toOpenAIError(error)
 */
export function toOpenAIError(error: unknown): MappedError {
  if (isXipuError(error)) {
    const mapped = _MAP[error.code]
    const headers: Record<string, string> = {}
    if (error.retryAfter !== undefined) headers['retry-after'] = String(error.retryAfter)
    return {
      status: mapped.status,
      headers,
      body: { error: { message: redactText(error.message), type: mapped.type, param: error.param ?? null, code: error.code === 'E_BAD_REQUEST' && error.param ? 'invalid_value' : error.code === 'E_NOT_FOUND' && error.param === 'model' ? 'model_not_found' : mapped.code } },
    }
  }
  if (HTTPError.isError(error)) {
    // h3's own errors (a route that does not exist, a method not allowed).
    const status = error.status
    const type = status === 404 ? 'invalid_request_error' : status < 500 ? 'invalid_request_error' : 'server_error'
    const code = status === 404 ? 'unknown_url' : status === 405 ? 'method_not_allowed' : 'http_error'
    return { status, headers: {}, body: { error: { message: redactText(error.message), type, param: null, code } } }
  }
  const message = error instanceof Error ? error.message : String(error)
  return { status: 500, headers: {}, body: { error: { message: `Internal error: ${redactText(message)}`, type: 'server_error', param: null, code: 'internal_error' } } }
}

/** The mapped error as a `Response`. */
export function toOpenAIErrorResponse(error: unknown): Response {
  const { status, body, headers } = toOpenAIError(error)
  return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json', ...headers } })
}
