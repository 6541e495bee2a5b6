/**
 * The simulated chat API, as strict as the real one where the protocol
 * document says it is: 403 for a bad or expired token or a session header
 * that does not match it; 429 for any call closer than the gap to the same
 * user's previous call (every endpoint counts, rejected calls too); the
 * 50-session cap; integer ids for delete; `code` ≠ 0 replies for bad input.
 */
import { createHash, randomBytes } from 'node:crypto'
import { getQuery, readBody, readFormData, type H3, type H3Event } from 'h3'
import { countTokens, createAnswer, readDirectives, SIMULATED_CATALOG, type CatalogEntry } from './answers.ts'
import { createEventStream } from './sse.ts'
import type { SimulatorState, SimSession } from './state.ts'

function _json(data: unknown, status = 200): Response {
  return new Response(JSON.stringify(data), { status, headers: { 'content-type': 'application/json;charset=UTF-8' } })
}

const ok = (data: unknown, code: number | string = 0) => _json({ code, msg: 'success', data })
const fail = (msg: string, code: number | string = 1) => _json({ code, msg, data: null })

function _isMultimodal(model: string): boolean {
  const entry = SIMULATED_CATALOG.find((e): e is CatalogEntry => typeof e === 'object' && (e.value ?? e.model ?? e.name) === model)
  return entry ? entry.multimodal === true || entry.multimodal === 1 : false
}

/**
 * Checks the call the way the platform does (credentials, then the rate
 * limit, then injected faults) and records it. Returns a reply when the call
 * is refused, or the user it belongs to.
 */
async function _admit(state: SimulatorState, event: H3Event, endpoint: string): Promise<Response | { user: string; body: unknown }> {
  const req = event.req
  const url = new URL(req.url)
  const headers = Object.fromEntries(req.headers.entries())
  let body: unknown
  if (req.method === 'POST' && endpoint !== 'upload') body = await readBody(event).catch(() => undefined)
  const call = state.record({ endpoint, method: req.method, query: Object.fromEntries(url.searchParams), headers, body })

  const auth = state.tokens.check(headers['jm-token'], headers['sdp-app-session'])
  if (!auth.ok) {
    call.status = 403
    call.note = auth.reason
    return _json({ code: 403, msg: 'Forbidden: login expired, please log in again', data: null }, 403)
  }
  const user = auth.username!
  if (!state.admitRate(user, call.at)) {
    call.status = 429
    return _json({ code: 429, msg: 'Request too fast, please adjust the length of the context', data: null }, 429)
  }
  const fault = state.takeFault(endpoint)
  if (fault) {
    call.status = fault.status ?? 0
    call.note = `injected ${fault.kind}`
    if (fault.kind === 'network') {
      // Drop the connection without a reply, as a gateway reset would.
      ;(event.runtime?.node?.res as { destroy?: () => void } | undefined)?.destroy?.()
      return new Response(null, { status: 502 })
    }
    if (fault.kind === 'stall') return new Response(new ReadableStream({ pull: () => new Promise(() => {}) }))
    return _json(fault.body ?? { code: fault.status, msg: fault.message ?? 'Simulated failure', data: null }, fault.status ?? 500)
  }
  call.status = 200
  return { user, body }
}

function _publicSession(s: SimSession) {
  return { id: s.id, name: s.name, model: s.model, contextCount: s.contextCount, temperature: s.temperature, maxToken: s.maxToken, createTime: new Date(s.createdAt).toISOString() }
}

/** Registers the API routes under `base` (e.g. `/jmapi/api/chat`). */
export function registerApiRoutes(app: H3, state: SimulatorState, base: string): void {
  const common = base.replace(/\/chat$/, '/common')

  app.get(`${base}/config`, async (event) => {
    const admitted = await _admit(state, event, 'config')
    if (admitted instanceof Response) return admitted
    return ok({ models: state.options.catalog ?? SIMULATED_CATALOG, lang: getQuery(event).lang ?? 'zh' })
  })

  app.get(`${base}/session`, async (event) => {
    const admitted = await _admit(state, event, 'session')
    if (admitted instanceof Response) return admitted
    return ok(state.sessionsOf(admitted.user).map(_publicSession))
  })

  app.post(`${base}/saveSession`, async (event) => {
    const admitted = await _admit(state, event, 'saveSession')
    if (admitted instanceof Response) return admitted
    const body = admitted.body as Record<string, unknown> | undefined
    if (!body || typeof body !== 'object') return fail('Invalid request body')
    if (body.id !== undefined && body.id !== null) {
      const session = state.sessions.get(Number(body.id))
      if (!session || session.owner !== admitted.user) return fail('Session does not exist')
      Object.assign(session, _sessionFields(_contextCountTaken(body, state, 'update'), session))
      return ok(_publicSession(session))
    }
    if (typeof body.model !== 'string' || body.model === '') return fail('Please select a model')
    if (state.options.contextCount === 'refused-on-create' && body.contextCount !== undefined) return fail('Unrecognized field: contextCount')
    if (state.sessionsOf(admitted.user).length >= state.options.sessionCap) {
      return fail(`You have created ${state.options.sessionCap} sessions, please delete some of them first!`, 500)
    }
    const session = state.createSession(admitted.user, _sessionFields(_contextCountTaken(body, state, 'create')))
    return ok(_publicSession(session))
  })

  app.post(`${base}/delSession`, async (event) => {
    const admitted = await _admit(state, event, 'delSession')
    if (admitted instanceof Response) return admitted
    const ids = (admitted.body as { ids?: unknown } | undefined)?.ids
    if (!Array.isArray(ids) || ids.length === 0 || !ids.every((id) => Number.isInteger(id))) {
      return fail('ids must be a non-empty array of integers')
    }
    for (const id of ids as number[]) {
      const session = state.sessions.get(id)
      if (session && session.owner === admitted.user) state.sessions.delete(id)
    }
    // The real platform answers some calls with a string code: clients must accept both.
    return ok(null, '0')
  })

  app.post(`${base}/completions`, async (event) => {
    const admitted = await _admit(state, event, 'completions')
    if (admitted instanceof Response) return admitted
    const body = admitted.body as Record<string, unknown> | undefined
    const session = state.sessions.get(Number(body?.sessionId))
    if (!body || !session || session.owner !== admitted.user) return fail('Session does not exist')
    if (typeof body.text !== 'string' || body.text.trim() === '') return fail('Please enter a question')
    const files = Array.isArray(body.files) ? body.files.filter((f): f is string => typeof f === 'string') : []
    if (files.some((f) => !state.uploads.has(f))) return fail('File not found')
    // What a text-only model does with files is not on record (the web app offers no upload
    // for it). The simulator takes the quieter failure: the files are ignored, and the model
    // answers as if no image came. Only the adapter's own refusal then tells the user.
    const attachments = _isMultimodal(session.model) ? files.map((f) => state.uploads.get(f)!) : []
    const thinking = typeof body.thinking === 'string' ? body.thinking : undefined
    if (thinking && !['minimal', 'low', 'medium', 'high'].includes(thinking)) return fail('Invalid thinking level')

    const text = body.text
    // The server feeds the session's last contextCount turns back to the model.
    const history = session.contextCount > 0 ? session.history.slice(-session.contextCount) : []
    const answer = createAnswer({ model: session.model, text, history, online: body.online === 1 || body.online === true, thinking, maxToken: session.maxToken, files: attachments, wordFilter: state.options.wordFilter })
    state.streamsOpen++
    let closed = false
    const close = () => {
      if (!closed) {
        closed = true
        state.streamsOpen--
      }
    }
    event.req.signal?.addEventListener('abort', () => {
      if (!closed) state.streamsAborted++
      close()
    })
    const stream = createEventStream(
      {
        answer,
        directives: readDirectives(text),
        promptTokens: countTokens(text),
        firstByteDelayMs: state.options.firstByteDelayMs,
        ending: state.options.streamEnding,
        seed: state.seedFor(text),
        onComplete: () => session.history.push({ user: text, assistant: answer.text }),
        onEnd: close,
      },
      event.req.signal,
    )
    return new Response(stream, {
      headers: { 'content-type': 'text/event-stream;charset=UTF-8', 'cache-control': 'no-cache', connection: 'keep-alive' },
    })
  })

  app.post(`${common}/upload`, async (event) => {
    const admitted = await _admit(state, event, 'upload')
    if (admitted instanceof Response) return admitted
    const form = await readFormData(event).catch(() => undefined)
    const file = form?.get('file')
    // The web app's Upload component sends a multipart form: accept=image, file, lang.
    if (!form || form.get('accept') !== 'image') return fail('Only images can be uploaded here (accept=image)')
    if (!file || typeof file === 'string') return fail('No file in the form')
    const lang = form.get('lang')
    if (lang !== 'en' && lang !== 'zh') return fail('lang must be en or zh')
    if (!/^image\//.test(file.type)) return fail(`Unsupported file type ${file.type || 'unknown'}`)
    const bytes = new Uint8Array(await file.arrayBuffer())
    const sha256 = createHash('sha256').update(bytes).digest('hex')
    const url = `${state.publicUrl()}/files/${randomBytes(8).toString('hex')}-${encodeURIComponent(file.name || 'image')}`
    state.uploads.set(url, { type: file.type, size: bytes.length, name: file.name, sha256, bytes, lang })
    return ok({ url, file_url: url })
  })
}

/** The file host: uploaded files by the URL the upload answered (the real ones are on tosai.xjtlu.edu.cn). */
export function registerFileRoutes(app: H3, state: SimulatorState): void {
  app.get('/files/**', (event) => {
    const upload = state.uploads.get(`${state.publicUrl()}${new URL(event.req.url).pathname}`)
    if (!upload) return new Response('Not found', { status: 404 })
    return new Response(upload.bytes as Uint8Array<ArrayBuffer>, { headers: { 'content-type': upload.type, 'content-length': String(upload.size) } })
  })
}

/** The body with `contextCount` dropped where this platform variant does not take it. */
function _contextCountTaken(body: Record<string, unknown>, state: SimulatorState, call: 'create' | 'update'): Record<string, unknown> {
  const mode = state.options.contextCount
  if (mode === 'always' || (mode !== 'never' && call === 'update')) return body
  const { contextCount: _ignored, ...rest } = body
  return rest
}

function _sessionFields(body: Record<string, unknown>, current?: SimSession) {
  const num = (v: unknown, fallback: number) => (typeof v === 'number' && Number.isFinite(v) ? v : fallback)
  return {
    name: typeof body.name === 'string' ? body.name : (current?.name ?? 'New Chat'),
    model: typeof body.model === 'string' && body.model ? body.model : (current?.model ?? ''),
    temperature: num(body.temperature, current?.temperature ?? 0.7),
    maxToken: num(body.maxToken, current?.maxToken ?? 0),
    presencePenalty: num(body.presencePenalty, current?.presencePenalty ?? 0),
    frequencyPenalty: num(body.frequencyPenalty, current?.frequencyPenalty ?? 0),
    // Whether the real saveSession takes contextCount on create is not confirmed; the
    // simulator accepts it, and the web client's default of 4 turns applies otherwise.
    contextCount: num(body.contextCount, current?.contextCount ?? 4),
  }
}
