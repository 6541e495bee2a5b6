/**
 * Every setting, read in one place: the process environment first, then the
 * `.env` file (`XIPU_ENV_FILE`, default `./.env`); the environment wins. The
 * file is re-read whenever it changes on disk, so a token written by auth.ts
 * or keepalive.ts is used by the next request without a restart.
 *
 * The settings are one table, `SETTINGS`: key, parser, default, description.
 * The `Settings` type is derived from it, so adding a setting is one entry
 * (plus its line in `.env.example` and both READMEs, which a test checks).
 *
 * Keys are kept from the original Python adapter (`JM_TOKEN`, `SDP_SESSION`,
 * `XJTLU_USERNAME`, `XJTLU_PASSWORD`) so its `.env` keeps working.
 */
import { dirname, join, resolve } from 'node:path'
import { fileStamp, readEnvFile } from './env-file.ts'
import { XipuError } from './errors.ts'
import { registerSecret } from './redact.ts'

/** The late-2026 API base: same origin as the web app, behind the Sangfor gateway. */
export const DEFAULT_API_BASE = 'https://xipuai.xjtlu.edu.cn/jmapi/api/chat'
export const DEFAULT_WEB_BASE = 'https://xipuai.xjtlu.edu.cn'

/** What a default may depend on: only the `.env` file's path (for `XIPU_STATE_DIR`). */
interface DefaultContext {
  envFile: string
}

/** One row of the settings table. */
export interface SettingSpec<F extends string = string, T = unknown> {
  /** The environment / `.env` key, like `XIPU_MIN_GAP_MS`. */
  key: string
  /** The property of `Settings` it fills, like `minGapMs`. */
  field: F
  /** Turns the raw text into the value; throws `E_CONFIG` with a message naming the key. */
  parse: (raw: string, key: string) => T
  /** The value when the key is unset or empty (a function when it depends on the `.env` path). */
  fallback: T | ((context: DefaultContext) => T)
  /** One line for humans (the README and `.env.example` say it at more length). */
  description: string
  /** Read from the process environment only (it is needed before any `.env` is read). */
  envOnly?: boolean
  /** Masked in every log once read. */
  secret?: boolean
}

function _setting<const F extends string, T>(spec: SettingSpec<F, T>): SettingSpec<F, T> {
  return spec
}

// --- Parsers: each one throws E_CONFIG naming the key, so a bad .env line says where it is. ---

function _fail(key: string, raw: string, wanted: string): never {
  throw new XipuError('E_CONFIG', `Settings: ${key}=${raw} ${wanted}`)
}

/** Parses `1500`, `1500ms`, `30s`, `10m`, `2h` into milliseconds. */
export function parseDuration(value: string, key: string): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/i.exec(value)
  if (!match) _fail(key, value, 'is not a duration (like 1500, 1500ms, 30s, 10m, 2h)')
  const unit = (match[2] ?? 'ms').toLowerCase()
  const factor = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[unit] ?? 1
  return Math.round(Number(match[1]) * factor)
}

const _text = (raw: string): string => raw
const _trimmed = (raw: string): string => raw.trim()
const _path = (raw: string): string => resolve(raw.trim())

function _wholeNumber(min: number) {
  return (raw: string, key: string): number => {
    const n = Number(raw.trim())
    if (!Number.isInteger(n) || n < min) _fail(key, raw, `must be a whole number ≥ ${min}`)
    return n
  }
}

function _oneOf<const V extends string>(...values: V[]) {
  return (raw: string, key: string): V => {
    const value = raw.trim().toLowerCase() as V
    if (!values.includes(value)) _fail(key, raw, `must be one of ${values.join(', ')}`)
    return value
  }
}

function _switch(raw: string): boolean {
  return !/^(0|false|no|off)$/i.test(raw.trim())
}

function _list(raw: string): string[] {
  return raw.split(',').map((s) => s.trim()).filter(Boolean)
}

/** A list that is unset when it names nothing (`XIPU_MODELS=,` means the catalog). */
function _someOf(raw: string): string[] | undefined {
  const items = _list(raw)
  return items.length > 0 ? items : undefined
}

function _modelMap(raw: string, key: string): Record<string, string> {
  const map: Record<string, string> = {}
  for (const pair of _list(raw)) {
    const at = pair.indexOf('=')
    const from = pair.slice(0, at).trim()
    const to = pair.slice(at + 1).trim()
    if (at <= 0 || !from || !to) _fail(key, raw, `has '${pair}': each entry must look like requested=platform (e.g. claude-sonnet-4-5=claude-3-7-sonnet-20250219)`)
    map[from] = to
  }
  return map
}

function _base(raw: string, key: string): string {
  const base = raw.trim().replace(/\/+$/, '')
  if (!/^https?:\/\//.test(base)) _fail(key, base, 'must start with http:// or https://')
  return base
}

function _selectors(raw: string): Record<string, string> {
  try {
    const parsed = JSON.parse(raw) as unknown
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) return parsed as Record<string, string>
  } catch {
    // Reported below.
  }
  throw new XipuError('E_CONFIG', 'Settings: XIPU_SELECTORS must be a JSON object like {"username":"#username_show"}')
}

const MINUTE = 60_000

/**
 * The settings table, in the order of `.env.example` and the README.
 * To add a setting: one entry here, one line in `.env.example`, one row in
 * both READMEs' settings tables (test/settings.test.ts checks all three).
 * @internal test hook: outside this module only tests use it.
 */
export const SETTINGS = [
  // Environment only: needed before any .env is read.
  _setting({ key: 'XIPU_ENV_FILE', field: 'envFile', parse: _path, fallback: () => resolve('.env'), envOnly: true, description: 'The .env file to read and write' }),
  _setting({ key: 'XIPU_LOG_LEVEL', field: 'logLevel', parse: _wholeNumber(0), fallback: 3, envOnly: true, description: 'Log verbosity: 0 errors, 1 warnings, 3 info, 4 debug, 5 trace' }),
  // Your XJTLU login (config.ts).
  _setting({ key: 'XJTLU_USERNAME', field: 'username', parse: _text, fallback: undefined as string | undefined, description: 'XJTLU username, for auth.ts and re-logins' }),
  _setting({ key: 'XJTLU_PASSWORD', field: 'password', parse: _text, fallback: undefined as string | undefined, secret: true, description: 'XJTLU password' }),
  // Platform credentials (auth.ts).
  _setting({ key: 'JM_TOKEN', field: 'jmToken', parse: _trimmed, fallback: undefined as string | undefined, secret: true, description: "The platform's JWT (jm-token header)" }),
  _setting({ key: 'SDP_SESSION', field: 'sdpSession', parse: _trimmed, fallback: undefined as string | undefined, secret: true, description: "The SSO gateway's session (sdp-app-session header)" }),
  _setting({ key: 'XIPU_COOKIE', field: 'cookie', parse: _text, fallback: undefined as string | undefined, secret: true, description: 'Cookies the chat page sent with its API calls' }),
  // Platform.
  _setting({ key: 'XIPU_API_BASE', field: 'apiBase', parse: _base, fallback: DEFAULT_API_BASE, description: 'Base URL of the chat API' }),
  _setting({ key: 'XIPU_WEB_BASE', field: 'webBase', parse: _base, fallback: DEFAULT_WEB_BASE, description: 'Where the browser login starts' }),
  _setting({ key: 'XIPU_MIN_GAP_MS', field: 'minGapMs', parse: parseDuration, fallback: 1000, description: 'Minimum gap between the starts of two platform calls' }),
  _setting({ key: 'XIPU_LANG', field: 'lang', parse: _oneOf('en', 'zh'), fallback: 'en' as 'en' | 'zh', description: 'lang sent to the platform' }),
  _setting({ key: 'XIPU_MODELS', field: 'models', parse: _someOf, fallback: undefined as string[] | undefined, description: "Model ids offered instead of the platform's catalog" }),
  _setting({ key: 'XIPU_MODELS_TTL_MS', field: 'modelsTtlMs', parse: parseDuration, fallback: 10 * MINUTE, description: 'How long the model catalog is cached' }),
  _setting({ key: 'XIPU_MODEL_MAP', field: 'modelMap', parse: _modelMap, fallback: {} as Record<string, string>, description: 'Requested model name → platform model, for every API (requested=platform, comma separated)' }),
  _setting({ key: 'XIPU_FILE_BASE', field: 'fileBase', parse: _base, fallback: 'https://tosai.xjtlu.edu.cn', description: "The platform's file host: image URLs here (or on the API's own origin) are passed on without a download" }),
  // The adapter's server.
  _setting({ key: 'HOST', field: 'host', parse: _trimmed, fallback: '127.0.0.1', description: 'Address to listen on' }),
  _setting({ key: 'PORT', field: 'port', parse: _wholeNumber(0), fallback: 8000, description: 'Port to listen on' }),
  _setting({ key: 'ADAPTER_API_KEY', field: 'apiKey', parse: _text, fallback: undefined as string | undefined, secret: true, description: 'When set, every /v1 route needs Authorization: Bearer <key>' }),
  _setting({ key: 'XIPU_CORS_ORIGINS', field: 'corsOrigins', parse: _list, fallback: [] as string[], description: 'Origins allowed by CORS (* for any)' }),
  _setting({ key: 'XIPU_ALLOWED_HOSTS', field: 'allowedHosts', parse: _list, fallback: [] as string[], description: 'More Host names answered besides localhost and the bind address (* turns the check off)' }),
  _setting({ key: 'XIPU_BODY_LIMIT', field: 'bodyLimit', parse: _wholeNumber(1024), fallback: 32 * 1024 * 1024, description: 'Largest request body accepted, in bytes' }),
  _setting({ key: 'XIPU_RESPONSES_KEEP', field: 'responsesKeep', parse: _wholeNumber(0), fallback: 100, description: 'Responses kept in memory for previous_response_id (0 = none)' }),
  // Images.
  _setting({ key: 'XIPU_IMAGE_MAX_BYTES', field: 'imageMaxBytes', parse: _wholeNumber(1), fallback: 10 * 1024 * 1024, description: 'Largest image accepted, in bytes (413 above it)' }),
  _setting({ key: 'XIPU_IMAGE_MAX_COUNT', field: 'imageMaxCount', parse: _wholeNumber(0), fallback: 8, description: 'Most images in one request (0 = images refused)' }),
  _setting({ key: 'XIPU_IMAGE_FETCH_TIMEOUT', field: 'imageFetchTimeoutMs', parse: parseDuration, fallback: 15_000, description: 'Timeout of fetching one http(s) image URL, redirects included' }),
  _setting({ key: 'XIPU_IMAGE_FETCH_PRIVATE', field: 'imageFetchPrivate', parse: _switch, fallback: false, description: 'Also fetch image URLs on loopback, private and link-local addresses' }),
  _setting({ key: 'XIPU_IMAGE_FETCH_ALLOW', field: 'imageFetchAllow', parse: _list, fallback: [] as string[], description: 'Hosts whose image URLs are fetched whatever address they resolve to' }),
  // Load and faults.
  _setting({ key: 'XIPU_MAX_RETRIES', field: 'maxRetries', parse: _wholeNumber(0), fallback: 3, description: 'Retries of a platform call that failed before any byte was relayed' }),
  _setting({ key: 'XIPU_QUEUE_MAX', field: 'queueMax', parse: _wholeNumber(1), fallback: 64, description: 'Requests allowed to wait for the platform before new ones get 429' }),
  _setting({ key: 'XIPU_QUEUE_TIMEOUT_MS', field: 'queueTimeoutMs', parse: parseDuration, fallback: 120_000, description: 'Longest a request may wait for its turn' }),
  _setting({ key: 'XIPU_IDLE_TIMEOUT_MS', field: 'idleTimeoutMs', parse: parseDuration, fallback: 120_000, description: 'A platform stream silent this long is ended with an error' }),
  _setting({ key: 'XIPU_CALL_TIMEOUT_MS', field: 'callTimeoutMs', parse: parseDuration, fallback: 30_000, description: 'Timeout of a platform call until it starts answering' }),
  _setting({ key: 'XIPU_PREPARE_SESSION', field: 'prepareSession', parse: _switch, fallback: true, description: 'Keep one session ready for the next request' }),
  _setting({ key: 'XIPU_SESSION_REUSE', field: 'sessionReuse', parse: _switch, fallback: true, description: 'Serve requests from a pool of stateless sessions (contextCount 0); off: one fresh session a request' }),
  _setting({ key: 'XIPU_POOL_MAX', field: 'poolMax', parse: _wholeNumber(1), fallback: 8, description: "Most pooled sessions, never more than the 50-session cap leaves beside the user's chats" }),
  _setting({ key: 'XIPU_POOL_MAX_USES', field: 'poolMaxUses', parse: _wholeNumber(1), fallback: 50, description: 'Requests a pooled session serves before it is deleted' }),
  _setting({ key: 'XIPU_POOL_IDLE', field: 'poolIdleMs', parse: parseDuration, fallback: 30 * MINUTE, description: 'A pooled session unused this long is deleted' }),
  _setting({ key: 'XIPU_REPAIR_RETRIES', field: 'repairRetries', parse: _wholeNumber(0), fallback: 1, description: 'Times a tool call or JSON answer that fails its checks is asked for again (0 = off)' }),
  // Keepalive.
  _setting({ key: 'XIPU_REAUTH_BEFORE', field: 'reauthBeforeMs', parse: parseDuration, fallback: 10 * MINUTE, description: 'Log in again when less than this is left on the token' }),
  _setting({ key: 'XIPU_SWEEP_INTERVAL', field: 'sweepIntervalMs', parse: parseDuration, fallback: 10 * MINUTE, description: 'How often orphan sessions are swept (0 = off)' }),
  _setting({ key: 'XIPU_WARM_IDLE', field: 'warmIdleMs', parse: parseDuration, fallback: 20 * MINUTE, description: 'Idle time after which one cheap read keeps the login warm (0 = off)' }),
  _setting({ key: 'XIPU_MAX_REQUEST', field: 'maxRequestMs', parse: parseDuration, fallback: 15 * MINUTE, description: "The longest a request may take; a live adapter's older session is an orphan" }),
  // Browser login.
  _setting({ key: 'CHROME_PATH', field: 'chromePath', parse: _trimmed, fallback: undefined as string | undefined, description: 'Browser for the login; found automatically when unset' }),
  _setting({ key: 'XIPU_LOGIN_STEP_TIMEOUT_MS', field: 'loginStepTimeoutMs', parse: parseDuration, fallback: 30_000, description: 'Timeout of each login step' }),
  _setting({ key: 'XIPU_SELECTORS', field: 'selectors', parse: _selectors, fallback: undefined as Record<string, string> | undefined, description: 'JSON object overriding the login selectors' }),
  // Logs and state.
  _setting({ key: 'XIPU_LOG_PROMPTS', field: 'logPrompts', parse: _switch, fallback: false, description: 'Log prompts and answers' }),
  _setting({ key: 'XIPU_LOG_FILE', field: 'logFile', parse: _trimmed, fallback: undefined as string | undefined, description: 'Also write logs to this file, rotated' }),
  _setting({ key: 'XIPU_STATE_DIR', field: 'stateDir', parse: _path, fallback: ({ envFile }: DefaultContext) => join(dirname(envFile), '.xipu'), description: 'Journal, locks, screenshots (default .xipu beside .env)' }),
] as const

type _Table = (typeof SETTINGS)[number]

/** Every setting's value, by field; derived from `SETTINGS` so the two cannot disagree. */
export type Settings = {
  [S in _Table as S['field']]: S extends SettingSpec<string, infer T> ? T : never
}

/** The `.env` file to use: `XIPU_ENV_FILE`, else `.env` in the working directory. */
export function resolveEnvFile(env: NodeJS.ProcessEnv = process.env): string {
  const raw = env.XIPU_ENV_FILE
  return raw && raw.trim() ? _path(raw) : resolve('.env')
}

/**
 * One environment-only setting, for code that runs before settings are read
 * (the logger). A bad value gives the default here; `loadSettings` reports it.
 *
 * @example
 * const level = readEnvironmentSetting('XIPU_LOG_LEVEL') // 3 unless set
 */
export function readEnvironmentSetting<K extends _Table['key']>(key: K, env: NodeJS.ProcessEnv = process.env): Settings[Extract<_Table, { key: K }>['field']] {
  const spec = SETTINGS.find((s) => s.key === key) as SettingSpec
  const fallback = () => (typeof spec.fallback === 'function' ? (spec.fallback as (c: DefaultContext) => unknown)({ envFile: resolveEnvFile(env) }) : spec.fallback)
  const raw = env[key]
  if (raw === undefined || raw.trim() === '') return fallback() as never
  try {
    return spec.parse(raw, key) as never
  } catch {
    return fallback() as never
  }
}

/**
 * Reads every setting once: environment, then `.env`, then built-in defaults.
 * `overrides` beat both (the demo uses them to point at the simulator).
 *
 * @example
 * const settings = loadSettings()
 */
export function loadSettings(options: { envFile?: string; env?: NodeJS.ProcessEnv; overrides?: Record<string, string> } = {}): Settings {
  const env = options.env ?? process.env
  const envFile = options.envFile ?? resolveEnvFile(env)
  const fromFile = readEnvFile(envFile)
  const values: Record<string, unknown> = {}
  for (const spec of SETTINGS as readonly SettingSpec[]) {
    const raw = options.overrides?.[spec.key] ?? env[spec.key] ?? (spec.envOnly ? undefined : fromFile[spec.key])
    const unset = raw === undefined || raw.trim() === ''
    const fallback = typeof spec.fallback === 'function' ? (spec.fallback as (c: DefaultContext) => unknown)({ envFile }) : spec.fallback
    values[spec.field] = unset ? fallback : spec.parse(raw, spec.key)
    if (spec.secret && !unset) registerSecret(values[spec.field] as string)
  }
  values.envFile = envFile
  return values as Settings
}

/**
 * Settings that follow the `.env` file: `get()` re-reads it when its stamp
 * (mtime, size, inode) changed since the last read, which costs one `stat`.
 *
 * @example
 * const store = createSettingsStore()
 * const { jmToken } = store.get() // the newest token, after auth.ts ran
 */
export function createSettingsStore(options: Parameters<typeof loadSettings>[0] = {}) {
  const envFile = options.envFile ?? resolveEnvFile(options.env)
  let stamp = fileStamp(envFile)
  let current = loadSettings({ ...options, envFile })
  return {
    envFile,
    /** The current settings, re-read first if `.env` changed. */
    get(): Settings {
      const now = fileStamp(envFile)
      if (now !== stamp) {
        stamp = now
        try {
          current = loadSettings({ ...options, envFile })
        } catch {
          // A half-edited .env by hand: keep the last good settings.
        }
      }
      return current
    },
  }
}

export type SettingsStore = ReturnType<typeof createSettingsStore>
