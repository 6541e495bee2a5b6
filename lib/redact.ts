/**
 * Secrets never reach a log, an error message or the console in full. Every
 * secret the process learns (password, JWT, session header, cookies, API key)
 * is registered here, and `redactText` replaces each with its masked form.
 * JWT-shaped strings are masked even when nobody registered them.
 */

const _secrets = new Set<string>()

// Shorter values are too likely to appear by chance in ordinary text; they
// are still masked by `maskSecret` wherever we print them on purpose.
const MIN_REGISTERED_LENGTH = 4

const JWT_PATTERN = /eyJ[\w-]{4,}\.eyJ[\w-]{4,}\.[\w-]*/g

/**
 * Masks a secret for display: the first and last few characters only.
 *
 * @example
 * maskSecret('eyJhbGciOiJIUzI1NiJ9.eyJleHAiOjF9.sig') // 'eyJh…sig (36 chars)'
 */
export function maskSecret(value: string | undefined): string {
  if (!value) return '(none)'
  if (value.length < 12) return `*** (${value.length} chars)`
  return `${value.slice(0, 4)}…${value.slice(-3)} (${value.length} chars)`
}

/** Remembers `value` as a secret so that `redactText` masks it from now on. */
export function registerSecret(value: string | undefined): void {
  if (!value || value.length < MIN_REGISTERED_LENGTH) return
  _secrets.add(value)
  // Cookies and headers are also logged piecewise: mask each cookie value too.
  for (const part of value.split(/;\s*/)) {
    const cookieValue = part.includes('=') ? part.slice(part.indexOf('=') + 1) : ''
    if (cookieValue.length >= 8) _secrets.add(cookieValue)
  }
  // Also catch the URL-encoded form, as it appears in query strings and bodies.
  const encoded = encodeURIComponent(value)
  if (encoded !== value) _secrets.add(encoded)
}

/** Replaces every registered secret and every JWT in `text` with its mask. */
export function redactText(text: string): string {
  let out = text
  // Longest first, so a secret that contains another is masked whole.
  for (const secret of [..._secrets].sort((a, b) => b.length - a.length)) {
    if (out.includes(secret)) out = out.split(secret).join(maskSecret(secret))
  }
  return out.replace(JWT_PATTERN, (jwt) => maskSecret(jwt))
}

/** Redacts any value for logging: strings directly, errors and objects through their text. */
export function redactValue(value: unknown): unknown {
  if (typeof value === 'string') return redactText(value)
  if (value instanceof Error) {
    const copy = new Error(redactText(value.message))
    copy.name = value.name
    copy.stack = value.stack ? redactText(value.stack) : undefined
    return copy
  }
  if (value && typeof value === 'object') {
    try {
      return JSON.parse(redactText(JSON.stringify(value)))
    } catch {
      return '[unprintable object]'
    }
  }
  return value
}
