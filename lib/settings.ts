/**
 * Every setting, read in one place: the process environment first, then the
 * `.env` file (`XIPU_ENV_FILE`, default `./.env`); the environment wins. The
 * file is re-read whenever it changes on disk, so a token written by auth.ts
 * or keepalive.ts is used by the next request without a restart.
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

export interface Settings {
  /** The `.env` file these settings were read from. */
  envFile: string
  /** Where the journal, locks, screenshots and logs live (`XIPU_STATE_DIR`, `.xipu` beside `.env`). */
  stateDir: string
  /** `jm-token`: the platform's JWT. */
  jmToken?: string
  /** `sdp-app-session`: the SSO gateway's session header. */
  sdpSession?: string
  /** Cookies the chat page sent with its API calls (`XIPU_COOKIE`). */
  cookie?: string
  username?: string
  password?: string
  /** Base URL of the chat API (`XIPU_API_BASE`). */
  apiBase: string
  /** Where the browser login starts (`XIPU_WEB_BASE`). */
  webBase: string
  /** Minimum gap between two calls to the platform, in ms (`XIPU_MIN_GAP_MS`, 1000). */
  minGapMs: number
  host: string
  port: number
  /** `ADAPTER_API_KEY`: when set, every /v1 route needs `Authorization: Bearer <key>`. */
  apiKey?: string
  /** `lang` sent to the platform (`XIPU_LANG`, en). */
  lang: 'en' | 'zh'
  /** A fixed list of model ids to offer instead of the platform's catalog (`XIPU_MODELS`, comma separated; unset: the catalog, else the built-in list). */
  models?: string[]
  /** How long the model catalog is cached, in ms (`XIPU_MODELS_TTL_MS`, 10 minutes). */
  modelsTtlMs: number
  /** Retries of a platform call that failed before any byte was relayed (`XIPU_MAX_RETRIES`, 3). */
  maxRetries: number
  /** Requests allowed to wait for the pacer before new ones get 429 (`XIPU_QUEUE_MAX`, 64). */
  queueMax: number
  /** Longest a request may wait for its turn, in ms (`XIPU_QUEUE_TIMEOUT_MS`, 120000). */
  queueTimeoutMs: number
  /** A platform stream silent this long is ended with an error, in ms (`XIPU_IDLE_TIMEOUT_MS`, 120000). */
  idleTimeoutMs: number
  /** Timeout of a non-streaming platform call, in ms (`XIPU_CALL_TIMEOUT_MS`, 30000). */
  callTimeoutMs: number
  /** Largest request body accepted, in bytes (`XIPU_BODY_LIMIT`, 32 MiB). */
  bodyLimit: number
  /** Log prompts and answers (`XIPU_LOG_PROMPTS=1`); off by default. */
  logPrompts: boolean
  /** Also write logs to this file, rotated (`XIPU_LOG_FILE`). */
  logFile?: string
  /** Origins allowed by CORS (`XIPU_CORS_ORIGINS`, comma separated, `*` for any; off by default). */
  corsOrigins: string[]
  /** Keep one session ready for the next request (`XIPU_PREPARE_SESSION`, on). */
  prepareSession: boolean
  /** Log in again when less than this is left on the token, in ms (`XIPU_REAUTH_BEFORE`, 10m). */
  reauthBeforeMs: number
  /** How often orphan sessions are swept, in ms (`XIPU_SWEEP_INTERVAL`, 10m). */
  sweepIntervalMs: number
  /** A cheap authenticated read after this much idle time keeps the login warm (`XIPU_WARM_IDLE`, 20m; 0 = off). */
  warmIdleMs: number
  /** The longest a request may take: a live adapter's session older than this is an orphan (`XIPU_MAX_REQUEST`, 15m). */
  maxRequestMs: number
  /** Browser for auth.ts (`CHROME_PATH`); found automatically when unset. */
  chromePath?: string
  /** Timeout of each login step, in ms (`XIPU_LOGIN_STEP_TIMEOUT_MS`, 30000). */
  loginStepTimeoutMs: number
  /** JSON object overriding the login selectors (`XIPU_SELECTORS`). */
  selectors?: Record<string, string>
}

/** Parses `1500`, `1500ms`, `30s`, `10m`, `2h` into milliseconds. */
export function parseDuration(value: string, key: string): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/i.exec(value)
  if (!match) throw new XipuError('E_CONFIG', `Settings: ${key}=${value} is not a duration (like 1500, 30s, 10m, 2h)`)
  const unit = (match[2] ?? 'ms').toLowerCase()
  const factor = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[unit] ?? 1
  return Math.round(Number(match[1]) * factor)
}

function _int(value: string | undefined, key: string, fallback: number, min = 0): number {
  if (value === undefined || value.trim() === '') return fallback
  const n = Number(value)
  if (!Number.isInteger(n) || n < min) throw new XipuError('E_CONFIG', `Settings: ${key}=${value} must be a whole number ≥ ${min}`)
  return n
}

function _duration(value: string | undefined, key: string, fallback: number): number {
  return value === undefined || value.trim() === '' ? fallback : parseDuration(value, key)
}

function _flag(value: string | undefined, fallback: boolean): boolean {
  if (value === undefined || value.trim() === '') return fallback
  return !/^(0|false|no|off)$/i.test(value.trim())
}

function _list(value: string | undefined): string[] | undefined {
  const items = value?.split(',').map((s) => s.trim()).filter(Boolean)
  return items && items.length > 0 ? items : undefined
}

function _base(value: string | undefined, fallback: string, key: string): string {
  const base = (value?.trim() || fallback).replace(/\/+$/, '')
  if (!/^https?:\/\//.test(base)) throw new XipuError('E_CONFIG', `Settings: ${key}=${base} must start with http:// or https://`)
  return base
}

function _selectors(value: string | undefined): Record<string, string> | undefined {
  if (!value) return undefined
  try {
    const parsed = JSON.parse(value) as unknown
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) return parsed as Record<string, string>
  } catch {
    // Reported below.
  }
  throw new XipuError('E_CONFIG', 'Settings: XIPU_SELECTORS must be a JSON object like {"username":"#username_show"}')
}

/** The `.env` file to use: `XIPU_ENV_FILE`, else `.env` in the working directory. */
export function resolveEnvFile(env: NodeJS.ProcessEnv = process.env): string {
  return resolve(env.XIPU_ENV_FILE || '.env')
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
  const get = (key: string): string | undefined => {
    const value = options.overrides?.[key] ?? env[key] ?? fromFile[key]
    return value === undefined || value === '' ? undefined : value
  }

  const settings: Settings = {
    envFile,
    stateDir: resolve(get('XIPU_STATE_DIR') ?? join(dirname(envFile), '.xipu')),
    jmToken: get('JM_TOKEN')?.trim(),
    sdpSession: get('SDP_SESSION')?.trim(),
    cookie: get('XIPU_COOKIE'),
    username: get('XJTLU_USERNAME'),
    password: get('XJTLU_PASSWORD'),
    apiBase: _base(get('XIPU_API_BASE'), DEFAULT_API_BASE, 'XIPU_API_BASE'),
    webBase: _base(get('XIPU_WEB_BASE'), DEFAULT_WEB_BASE, 'XIPU_WEB_BASE'),
    minGapMs: _int(get('XIPU_MIN_GAP_MS'), 'XIPU_MIN_GAP_MS', 1000),
    host: get('HOST') ?? '127.0.0.1',
    port: _int(get('PORT'), 'PORT', 8000),
    apiKey: get('ADAPTER_API_KEY'),
    lang: get('XIPU_LANG') === 'zh' ? 'zh' : 'en',
    models: _list(get('XIPU_MODELS')),
    modelsTtlMs: _duration(get('XIPU_MODELS_TTL_MS'), 'XIPU_MODELS_TTL_MS', 10 * 60_000),
    maxRetries: _int(get('XIPU_MAX_RETRIES'), 'XIPU_MAX_RETRIES', 3),
    queueMax: _int(get('XIPU_QUEUE_MAX'), 'XIPU_QUEUE_MAX', 64, 1),
    queueTimeoutMs: _duration(get('XIPU_QUEUE_TIMEOUT_MS'), 'XIPU_QUEUE_TIMEOUT_MS', 120_000),
    idleTimeoutMs: _duration(get('XIPU_IDLE_TIMEOUT_MS'), 'XIPU_IDLE_TIMEOUT_MS', 120_000),
    callTimeoutMs: _duration(get('XIPU_CALL_TIMEOUT_MS'), 'XIPU_CALL_TIMEOUT_MS', 30_000),
    bodyLimit: _int(get('XIPU_BODY_LIMIT'), 'XIPU_BODY_LIMIT', 32 * 1024 * 1024, 1024),
    logPrompts: _flag(get('XIPU_LOG_PROMPTS'), false),
    logFile: get('XIPU_LOG_FILE'),
    corsOrigins: _list(get('XIPU_CORS_ORIGINS')) ?? [],
    prepareSession: _flag(get('XIPU_PREPARE_SESSION'), true),
    reauthBeforeMs: _duration(get('XIPU_REAUTH_BEFORE'), 'XIPU_REAUTH_BEFORE', 10 * 60_000),
    sweepIntervalMs: _duration(get('XIPU_SWEEP_INTERVAL'), 'XIPU_SWEEP_INTERVAL', 10 * 60_000),
    warmIdleMs: _duration(get('XIPU_WARM_IDLE'), 'XIPU_WARM_IDLE', 20 * 60_000),
    maxRequestMs: _duration(get('XIPU_MAX_REQUEST'), 'XIPU_MAX_REQUEST', 15 * 60_000),
    chromePath: get('CHROME_PATH'),
    loginStepTimeoutMs: _duration(get('XIPU_LOGIN_STEP_TIMEOUT_MS'), 'XIPU_LOGIN_STEP_TIMEOUT_MS', 30_000),
    selectors: _selectors(get('XIPU_SELECTORS')),
  }
  for (const secret of [settings.jmToken, settings.sdpSession, settings.cookie, settings.password, settings.apiKey]) {
    registerSecret(secret)
  }
  return settings
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
