/**
 * The adapter's h3 app: the OpenAI routes, the API key, CORS, the body limit,
 * `/health`, and error mapping (through lib/openai/errors.ts). Handlers stay
 * short: validation is in lib/openai/request.ts, the pipeline in lib/chat/pipeline.ts,
 * the mapping to OpenAI chunks in lib/openai/response.ts.
 */
import { timingSafeEqual, createHash } from 'node:crypto'
import type { ConsolaInstance } from 'consola'
import { H3, HTTPError, handleCors, isPreflightRequest, type H3Event } from 'h3'
import type { ChatPipeline } from '../chat/pipeline.ts'
import { XipuError } from '../errors.ts'
import { getTokenLifetime, describeToken } from '../jwt.ts'
import type { ModelCatalog } from '../xipu/catalog.ts'
import { readJsonBody } from './read-body.ts'
import { escapeLogField } from '../log.ts'
import { registerModelsRoutes } from './models-routes.ts'
import { registerResponsesRoutes } from './responses-routes.ts'
import { isMessagesPath, registerMessagesRoutes } from './messages-routes.ts'
import { toAnthropicErrorResponse } from '../anthropic/errors.ts'
import { openTurn, type Turn, type TurnAnswer, type TurnEvent } from '../chat/turn.ts'
import { parseChatRequest, type OpenAIChatRequest } from '../openai/request.ts'
import { toOpenAIError, toOpenAIErrorResponse } from '../openai/errors.ts'
import { applyModelMap } from '../chat/model-map.ts'
import { createChunk, createCompletion, createCompletionId, createUsageChunk, toWireDeltas, toWireFinish, type WireDelta } from '../openai/response.ts'
import { checkContentType, checkHost, checkOrigin, normalizeOrigin } from './guard.ts'
import type { Pacer } from '../xipu/pacer.ts'
import type { SessionManager } from '../sessions/manager.ts'
import type { Settings } from '../settings.ts'
import { maskSessionId, createStatusRecorder, type StatusRecorder } from '../status/recorder.ts'
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

const SSE_HEADERS = { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive', 'x-accel-buffering': 'no' }
const encoder = new TextEncoder()

function _sse(data: unknown): Uint8Array {
  return encoder.encode(`data: ${typeof data === 'string' ? data : JSON.stringify(data)}\n\n`)
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
      sessions: { active: deps.sessions.activeCount(), inFlight: deps.sessions.inFlight(), ready: deps.sessions.readyId() ?? null },
      memory: _memory(),
    }
  })

  const completions = (event: H3Event) => _handleCompletion(event, deps)

  // Some clients take the base URL without /v1; serve both.
  for (const prefix of ['/v1', '']) {
    app.post(`${prefix}/chat/completions`, completions)
  }
  registerModelsRoutes(app, deps)
  registerResponsesRoutes(app, deps)
  registerMessagesRoutes(app, deps)

  app.all('/**', (event) => {
    throw new XipuError('E_NOT_FOUND', `Unknown route ${event.req.method} ${new URL(event.req.url).pathname}. The API is at /v1 (/v1/models, /v1/chat/completions).`)
  })
  return app
}

async function _handleCompletion(event: H3Event, deps: AdapterDeps): Promise<Response> {
  const settings = deps.settings()
  if (deps.isShuttingDown?.()) throw new XipuError('E_SHUTTING_DOWN', 'The adapter is shutting down: retry in a moment.', { retryAfter: 5 })
  const request = applyModelMap(parseChatRequest(await readJsonBody(event, settings.bodyLimit)), settings.modelMap)
  const started = performance.now()
  const signal = event.req.signal
  // The model name comes from the request: escaped, so that it cannot break the request line.
  const tag = `${escapeLogField(request.model)}${request.stream ? ' stream' : ''}${request.tools?.length ? ` tools ${request.tools.length}` : ''}${request.responseFormat ? ` ${request.responseFormat.type}` : ''}${request.images?.length ? ` images ${request.images.length}` : ''}`
  if (settings.logPrompts) deps.log.info(`Prompt (${request.model}):\n${request.prompt}`)

  const arrivedAt = Date.now()
  const record = (status: string, extra: { firstTokenMs?: number; session?: number; error?: string }) =>
    deps.status?.record({ at: arrivedAt, api: 'chat.completions', model: request.model, stream: request.stream, status, durationMs: Math.round(performance.now() - started), firstTokenMs: extra.firstTokenMs, session: maskSessionId(extra.session), error: extra.error, prompt: settings.logPrompts ? request.prompt : undefined })

  let turn: Turn
  try {
    turn = await openTurn({ chat: deps.chat, repairRetries: settings.repairRetries, log: deps.log }, request, signal)
  } catch (error) {
    const { status } = toOpenAIError(error)
    deps.log.info(`POST /v1/chat/completions ${tag} → ${status} in ${Math.round(performance.now() - started)} ms (${escapeLogField((error as Error).message)})`)
    record(String(status), { error: (error as Error).message })
    throw error
  }
  const waited = Math.round(performance.now() - started)
  const id = createCompletionId()
  const created = Math.floor(Date.now() / 1000)
  // One line per request: a client that leaves mid-stream is seen both by the cancel and by the aborted read.
  let logged = false
  let firstTokenMs: number | undefined
  const sawToken = () => (firstTokenMs ??= Math.round(performance.now() - started))
  const done = (status: string, error?: string, attempts = 1) => {
    if (logged) return
    logged = true
    const why = error && !/^\d+$/.test(status) ? ` (${escapeLogField(error)})` : ''
    const repairs = attempts > 1 ? `, ${attempts - 1} repair(s)` : ''
    deps.log.info(`POST /v1/chat/completions ${tag} → ${status}${why} session ${turn.sessionId}, first byte ${waited} ms, total ${Math.round(performance.now() - started)} ms${repairs}`)
    record(status, { firstTokenMs, session: turn.sessionId, error })
  }

  if (!request.stream) {
    let end: Extract<TurnEvent, { kind: 'end' }> | undefined
    try {
      for await (const turnEvent of turn.events) {
        sawToken()
        if (turnEvent.kind === 'end') end = turnEvent
      }
    } catch (error) {
      done(String(toOpenAIError(error).status), (error as Error).message)
      throw error
    }
    const { finishReason, usage, answer, attempts } = end!
    if (settings.logPrompts) deps.log.info(`Answer: ${_describeAnswer(answer)}`)
    done('200', undefined, attempts)
    return Response.json(createCompletion(id, created, request.model, answer, finishReason, usage, request.legacyFunctions))
  }

  return new Response(_streamBody(request, turn.events, { id, created, done, sawToken, logAnswer: settings.logPrompts ? deps.log : undefined }), { headers: SSE_HEADERS })
}

function _describeAnswer(answer: TurnAnswer): string {
  return `${answer.content}${answer.toolCalls.map((c) => ` [call ${c.name} ${c.arguments}]`).join('')}`
}

function _streamBody(
  request: OpenAIChatRequest,
  events: AsyncGenerator<TurnEvent>,
  meta: { id: string; created: number; done: (status: string, error?: string, attempts?: number) => void; sawToken: () => void; logAnswer?: ConsolaInstance },
): ReadableStream<Uint8Array> {
  const chunk = (delta: WireDelta, finish: Parameters<typeof createChunk>[4] = null) => _sse(createChunk(meta.id, meta.created, request.model, delta, finish))

  async function* frames(): AsyncGenerator<Uint8Array> {
    yield chunk({ role: 'assistant', content: '' })
    let end: Extract<TurnEvent, { kind: 'end' }> | undefined
    try {
      for await (const turnEvent of events) {
        if (turnEvent.kind === 'end') {
          end = turnEvent
          continue
        }
        meta.sawToken()
        for (const delta of toWireDeltas(turnEvent.delta, request.legacyFunctions)) yield chunk(delta)
      }
    } catch (error) {
      // Streaming has begun: the error travels as an event, and the stream ends without [DONE].
      meta.done('error after first byte', (error as Error).message)
      yield _sse(toOpenAIError(error).body)
      return
    }
    const { finishReason, usage, answer, attempts } = end!
    yield chunk({}, toWireFinish(finishReason, request.legacyFunctions))
    if (request.includeUsage) yield _sse(createUsageChunk(meta.id, meta.created, request.model, usage))
    yield _sse('[DONE]')
    meta.logAnswer?.info(`Answer: ${_describeAnswer(answer)}`)
    meta.done('200', undefined, attempts)
  }

  const iterator = frames()
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const { value, done } = await iterator.next()
      if (done) controller.close()
      else controller.enqueue(value)
    },
    async cancel() {
      // The client went away: closing the generators aborts the platform call and releases the session.
      meta.done('client disconnected')
      await events.return(undefined)
      await iterator.return(undefined)
    },
  })
}
