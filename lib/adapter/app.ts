/**
 * The adapter's h3 app: the OpenAI routes, the API key, CORS, the body limit,
 * `/health`, and error mapping (through lib/openai/errors.ts). Handlers stay
 * short: validation is in lib/openai/request.ts, the pipeline in lib/chat/pipeline.ts,
 * the mapping to OpenAI chunks in lib/openai/response.ts.
 */
import { timingSafeEqual, createHash } from 'node:crypto'
import type { ConsolaInstance } from 'consola'
import { H3, HTTPError, handleCors, isPreflightRequest } from 'h3'
import type { ChatPipeline } from '../chat/pipeline.ts'
import { XipuError } from '../errors.ts'
import { getTokenLifetime, describeToken } from '../jwt.ts'
import type { ModelCatalog } from '../xipu/catalog.ts'
import { registerChatRoutes } from './chat-routes.ts'
import { registerModelsRoutes } from './models-routes.ts'
import { registerResponsesRoutes } from './responses-routes.ts'
import { isMessagesPath, registerMessagesRoutes } from './messages-routes.ts'
import { toAnthropicErrorResponse } from '../anthropic/errors.ts'
import { toOpenAIErrorResponse } from '../openai/errors.ts'
import { checkContentType, checkHost, checkOrigin, normalizeOrigin } from './guard.ts'
import type { Pacer } from '../xipu/pacer.ts'
import type { SessionManager } from '../sessions/manager.ts'
import type { Settings } from '../settings.ts'
import { createStatusRecorder, type StatusRecorder } from '../status/recorder.ts'
import { registerStatusRoutes } from '../status/routes.ts'
import { registerApiDocsRoutes } from '../api-docs/routes.ts'

export interface AdapterDeps {
  settings: () => Settings
  chat: ChatPipeline
  models: ModelCatalog
  pacer: Pacer
  sessions: SessionManager
  log: ConsolaInstance
  /** True once shutdown began: new requests get 503. */
  isShuttingDown?: () => boolean
  /** The address the server listens on, for the Host check (default: the `HOST` setting). */
  bindHost?: string
  /** What the status page shows: every route records its requests here (`deps.status?.record({...})`). */
  status?: StatusRecorder
  /** Whether the keepalive jobs run in this process, for the status page. */
  keepaliveHere?: () => boolean
}

function _memory() {
  const { rss, heapTotal, heapUsed, external, arrayBuffers } = process.memoryUsage()
  const mib = (n: number) => Math.round((n / 1048576) * 10) / 10
  return { rssMiB: mib(rss), heapTotalMiB: mib(heapTotal), heapUsedMiB: mib(heapUsed), externalMiB: mib(external), arrayBuffersMiB: mib(arrayBuffers) }
}

/** Compares API keys in constant time (hashing first makes the lengths equal). */
function _keyMatches(given: string, expected: string): boolean {
  const a = createHash('sha256').update(given).digest()
  const b = createHash('sha256').update(expected).digest()
  return timingSafeEqual(a, b)
}

/**
 * @example
 * const app = createAdapterApp({ settings, chat, models, pacer, sessions, log })
 * await serveApp(app, { host: '127.0.0.1', port: 8000 })
 */
export function createAdapterApp(deps: AdapterDeps): H3 {
  const startedAt = Date.now()
  deps = { ...deps, status: deps.status ?? createStatusRecorder() }
  const app = new H3({
    // h3 would print unhandled errors with console.error, past the redacting logger.
    silent: true,
    onError: (error, event) => {
      const cause = (error as HTTPError).cause
      const known = cause instanceof XipuError ? cause : error
      if (!(known instanceof XipuError) && !(HTTPError.isError(known) && !known.unhandled)) deps.log.error('Unexpected error:', known)
      // Anthropic's SDK reads only its own error shape: /v1/messages answers in it.
      const response = event && isMessagesPath(new URL(event.req.url).pathname) ? toAnthropicErrorResponse(known) : toOpenAIErrorResponse(known)
      // Keep the CORS headers: without them a browser client sees "CORS error", not the 401 or 429.
      event?.res.errHeaders.forEach((value, key) => {
        if (!response.headers.has(key)) response.headers.set(key, value)
      })
      return response
    },
  })

  app.use((event) => {
    const settings = deps.settings()
    // Without an API key, any origin ('*') would let every web page use the account:
    // only listed origins then (startAdapter refuses '*' alone; this covers a .env edited later).
    const origins = (settings.apiKey ? settings.corsOrigins : settings.corsOrigins.filter((o) => o !== '*')).map(normalizeOrigin)
    // Web pages first (lib/adapter/guard.ts): a rebound name, then a foreign page; preflights are CORS's to answer.
    const guard = { bindHost: deps.bindHost ?? settings.host, allowedHosts: settings.allowedHosts, corsOrigins: origins }
    const host = event.req.headers.get('host')
    checkHost(host, guard)
    if (!isPreflightRequest(event)) checkOrigin(event.req.headers.get('origin'), host, guard)
    if (origins.length > 0) {
      const cors = handleCors(event, {
        origin: origins.includes('*') ? '*' : origins,
        methods: ['GET', 'POST', 'DELETE', 'OPTIONS'],
        // '*' echoes the headers a preflight asks for: the OpenAI SDK sends a family of
        // x-stainless-* headers, and a pattern in this list would be taken literally.
        allowHeaders: '*',
        preflight: { statusCode: 204 },
      })
      if (cors !== false) return cors
    }
    const path = new URL(event.req.url).pathname
    // The status page and the API description hold no data: the page asks for the key itself.
    if (settings.apiKey && path !== '/health' && path !== '/' && path !== '/openapi.json' && path !== '/docs' && !path.startsWith('/docs/')) {
      const header = event.req.headers.get('authorization') ?? ''
      // Anthropic's clients send the key as x-api-key.
      const given = /^Bearer\s+(.+)$/i.exec(header)?.[1]?.trim() || event.req.headers.get('x-api-key')?.trim() || ''
      if (!given || !_keyMatches(given, settings.apiKey)) {
        throw new XipuError('E_UNAUTHORIZED', 'Missing or wrong API key: send "Authorization: Bearer <ADAPTER_API_KEY>" (or "x-api-key: <ADAPTER_API_KEY>").')
      }
    }
    checkContentType(event.req.method, event.req.headers)
    // Shutting down: the port stays open for the running requests; new ones are told to come back (/health says why).
    if (deps.isShuttingDown?.() && path !== '/health') {
      throw new XipuError('E_SHUTTING_DOWN', 'The adapter is shutting down: retry in a moment.', { retryAfter: 5 })
    }
  })

  const index = () => ({ name: 'xipu-openai', baseURL: '/v1', endpoints: ['/v1/models', '/v1/chat/completions', '/v1/responses', '/v1/messages', '/health', '/status.json', '/openapi.json', '/docs'] })
  registerStatusRoutes(app, { ...deps, status: deps.status!, startedAt }, index)
  registerApiDocsRoutes(app)

  app.get('/health', () => {
    const settings = deps.settings()
    let token: Record<string, unknown> = { present: false }
    if (settings.jmToken) {
      try {
        const life = getTokenLifetime(settings.jmToken)
        token = { present: true, expired: life.expired, expiresAt: life.expiresAt?.toISOString() ?? null, secondsLeft: Number.isFinite(life.msLeft) ? Math.round(life.msLeft / 1000) : null }
      } catch {
        token = { present: true, valid: false }
      }
    }
    return {
      status: deps.isShuttingDown?.() ? 'shutting_down' : 'ok',
      uptimeSeconds: Math.round((Date.now() - startedAt) / 1000),
      apiBase: settings.apiBase,
      token: { ...token, description: describeToken(settings.jmToken) },
      pacer: { gapMs: settings.minGapMs, queue: deps.pacer.depth(), calls: deps.pacer.callCount() },
      sessions: { active: deps.sessions.activeCount(), inFlight: deps.sessions.inFlight(), ready: deps.sessions.readyId() ?? null, pooled: deps.sessions.pool.size() },
      memory: _memory(),
    }
  })

  registerChatRoutes(app, deps)
  registerModelsRoutes(app, deps)
  registerResponsesRoutes(app, deps)
  registerMessagesRoutes(app, deps)

  app.all('/**', (event) => {
    throw new XipuError('E_NOT_FOUND', `Unknown route ${event.req.method} ${new URL(event.req.url).pathname}. The API is at /v1 (/v1/models, /v1/chat/completions).`)
  })
  return app
}
