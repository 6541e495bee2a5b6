/**
 * The CSS selectors of the browser login, in one place. They were observed on
 * the real site (see "The login flow" in the protocol document) and may
 * change without notice, so each can be overridden with `XIPU_SELECTORS`, a
 * JSON object such as `{"chatButton":"button.new-chat"}`.
 */
import { XipuError } from '../errors.ts'

export const DEFAULT_LOGIN_SELECTORS = {
  /** SSO form: the username input. */
  username: '#username_show',
  /** SSO form: the password input. */
  password: '#password_show',
  /** SSO form: the submit control (clicked from script, which works best). */
  submit: '#btn_login input',
  /** SSO form: the message shown for a wrong username or password. */
  loginError: '.login-error, #errorMsg, .error-message, .alert-danger',
  /** Portal: the link to the chat app. */
  portalLink: "a[href='/v3/chat']",
  /** Chat page: the button that starts a chat. */
  chatButton: 'button:has(span.n-button__content)',
  /** Chat page: the input that appears once a chat has started. */
  chatInput: 'textarea',
} as const

export type LoginSelectors = { -readonly [K in keyof typeof DEFAULT_LOGIN_SELECTORS]: string }

/**
 * The defaults with `overrides` applied. Unknown keys and empty values are
 * refused, so that a typo in `XIPU_SELECTORS` fails loudly instead of being ignored.
 *
 * @example
 * resolveLoginSelectors({ chatButton: 'button.start' }).chatButton // 'button.start'
 */
export function resolveLoginSelectors(overrides: Record<string, string> = {}): LoginSelectors {
  const selectors: LoginSelectors = { ...DEFAULT_LOGIN_SELECTORS }
  for (const [key, value] of Object.entries(overrides)) {
    if (!Object.hasOwn(DEFAULT_LOGIN_SELECTORS, key)) {
      const known = Object.keys(DEFAULT_LOGIN_SELECTORS).join(', ')
      throw new XipuError('E_CONFIG', `Settings: XIPU_SELECTORS has an unknown key "${key}" (known: ${known})`)
    }
    if (typeof value !== 'string' || value.trim() === '') {
      throw new XipuError('E_CONFIG', `Settings: XIPU_SELECTORS.${key} must be a non-empty CSS selector`)
    }
    selectors[key as keyof LoginSelectors] = value
  }
  return selectors
}
