/**
 * The one error class of the project. Every expected failure carries a `code`
 * and a message that says what to do next; scripts print the message and exit
 * with the code their entry point gives it (lib/cli.ts), and the HTTP layer maps the code to an OpenAI error in one place
 * (`lib/openai/errors.ts`).
 */

export const ERROR_CODES = {
  E_BAD_REQUEST: 'the request is not valid',
  E_NOT_FOUND: 'no such route or model',
  E_UNAUTHORIZED: 'the API key is missing or wrong',
  E_BODY_TOO_LARGE: 'the request body is over the limit',
  E_HOST_NOT_ALLOWED: 'the Host header names no address this adapter answers',
  E_ORIGIN_NOT_ALLOWED: 'a web page from an origin not in XIPU_CORS_ORIGINS',
  E_UNSUPPORTED_MEDIA_TYPE: 'the request body is not declared application/json',
  E_NO_TOKEN: 'no JM_TOKEN is configured',
  E_BAD_TOKEN: 'JM_TOKEN is not a JWT',
  E_TOKEN_EXPIRED: 'the platform rejected the token (HTTP 403)',
  E_RATE_LIMITED: 'the platform answered 429 Request too fast',
  E_SESSION_CAP: 'the platform holds 50 sessions already',
  E_UPSTREAM: 'the platform answered with an error',
  E_UNREACHABLE: 'the platform could not be reached',
  E_STREAM_TRUNCATED: 'the platform stream ended before the answer was complete',
  E_STREAM_STALLED: 'the platform stream went silent',
  E_INVALID_OUTPUT: "the model's answer failed its checks (tool call or JSON), also after a repair",
  E_QUEUE_FULL: 'too many requests are waiting',
  E_QUEUE_TIMEOUT: 'a request waited too long for its turn',
  E_SHUTTING_DOWN: 'the adapter is shutting down',
  E_LOGIN_FAILED: 'the browser login failed',
  E_WRONG_PASSWORD: 'the SSO page rejected the username or password',
  E_NO_CREDENTIALS: 'no XJTLU username and password are saved',
  E_NO_CHROME: 'no Chrome, Chromium or Edge was found',
  E_CONFIG: 'a setting is not valid',
  E_ENV_FILE: 'the .env file could not be read or written',
  E_LOCKED: 'another process holds the lock',
  E_ABORTED: 'the client went away',
  E_USAGE: 'a script was called with flags it does not take',
} as const

export type ErrorCode = keyof typeof ERROR_CODES

export interface XipuErrorOptions {
  /** What caused it (kept for debugging; never printed to users in full). */
  cause?: unknown
  /** The HTTP status the platform answered, when there was one. */
  upstreamStatus?: number
  /** The request parameter at fault, for OpenAI's `param` field. */
  param?: string
  /** Seconds a client should wait before trying again. */
  retryAfter?: number
}

/**
 * @example
 * throw new XipuError('E_TOKEN_EXPIRED', 'The token has expired: run npx tsx auth.ts')
 */
export class XipuError extends Error {
  override name = 'XipuError'
  readonly code: ErrorCode
  readonly upstreamStatus?: number
  readonly param?: string
  readonly retryAfter?: number

  constructor(code: ErrorCode, message: string, options: XipuErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.code = code
    this.upstreamStatus = options.upstreamStatus
    this.param = options.param
    this.retryAfter = options.retryAfter
  }
}

/** Whether `error` is a `XipuError`, optionally with one of `codes`. */
export function isXipuError(error: unknown, ...codes: ErrorCode[]): error is XipuError {
  return error instanceof XipuError && (codes.length === 0 || codes.includes(error.code))
}

/** Whether `error` is an abort (from an `AbortSignal`) rather than a failure. */
export function isAbortError(error: unknown): boolean {
  return isXipuError(error, 'E_ABORTED') || (error instanceof Error && error.name === 'AbortError')
}
