/**
 * The doctor's checks in one session of the platform, in as few calls as
 * they can take: create it with the parameters the adapter sends (did
 * `contextCount` take?), a short completion (the stream's shape), a second
 * turn asking for a nonce from the first (does a `contextCount: 0` session
 * carry history?), an upload and a turn with the image (does the model see
 * it?), then delete it and check the list. The session is journalled like
 * the adapter's own, and deleted whatever happens.
 */
import { randomBytes } from 'node:crypto'
import { isXipuError } from '../errors.ts'
import type { Journal } from '../sessions/journal.ts'
import { toSessionFields } from '../sessions/manager.ts'
import { isAdapterSessionName } from '../sessions/names.ts'
import { SESSION_CAP, toStatelessFields } from '../sessions/pool.ts'
import { contextCountOf, type CallOptions, type SessionFields, type XipuSession } from '../xipu/client.ts'
import type { Probe } from './probe.ts'
import { checkLine, maskId, type CheckLine } from './report.ts'
import { createStreamShape, describeStreamShape, type CompletionRun } from './stream-shape.ts'
import { checkImageUpload } from './upload-check.ts'

const REPORT_ADVICE = 'Please report it with the output of npx tsx adapter.ts --check --json.'

export interface SessionCheckContext {
  probe: Probe
  journal: Journal
  /** The model the session is made for (a multimodal one when the catalog has any). */
  model: string
  multimodal: boolean
}

/** Lines: `session`, `completion`, `history`, `upload`, `vision`, `delete`. */
export async function runSessionChecks(ctx: SessionCheckContext): Promise<CheckLine[]> {
  const { probe, journal } = ctx
  const lines: CheckLine[] = []
  // Exactly what the session pool sends (lib/sessions/pool.ts): contextCount 0, no system
  // prompt. The two turns below are two requests in one pooled session.
  const fields = toStatelessFields(toSessionFields({ upstreamModel: ctx.model, temperature: 0.7, maxTokens: 0, presencePenalty: 0, frequencyPenalty: 0 }))
  let created: { id: number; reply: unknown } | undefined
  let deleted = false
  try {
    let reply: unknown
    try {
      const { id } = await probe.call('saveSession', (o) => probe.client.saveSession(fields, o), (raw) => (reply = raw))
      created = { id, reply }
      journal.add({ id, createdAt: Date.now(), name: fields.name })
    } catch (error) {
      lines.push(_failed('session', 'session', `creating a session for ${ctx.model} failed: ${(error as Error).message}`, error))
      return lines
    }
    const listed = await _listSessions(probe)
    lines.push(await _checkContextCount(probe, fields, created, listed))

    const nonce = randomBytes(4).toString('hex').toUpperCase()
    const first = await _complete(probe, created.id, `User:\nThis is a check by the xipu-openai doctor. Remember the code ${nonce}. Reply with one short sentence.`)
    lines.push(_judgeCompletion(first, ctx.model))
    if (first.error && !first.shape.result && first.shape.pieces === 0) return lines

    const second = await _complete(probe, created.id, 'User:\nWhat was the code in my previous message? Reply with the code only, or NONE if you cannot see an earlier message.')
    lines.push(_judgeHistory(second, nonce))

    lines.push(...(await checkImageUpload({ probe, sessionId: created.id, model: ctx.model, multimodal: ctx.multimodal, complete: (text, files) => _complete(probe, created!.id, text, files) })))

    try {
      await probe.call('delSession', (o) => probe.client.deleteSessions([created!.id], o))
      deleted = true
      journal.remove(created.id)
      const after = await _listSessions(probe)
      const still = after.sessions?.some((s) => s.id === created!.id)
      if (after.error) lines.push(checkLine('delete', 'delete', 'warn', `deleted, but the list could not be read to check: ${after.error}`))
      else if (still) lines.push(checkLine('delete', 'delete', 'fail', 'delSession answered success, but the list still holds the session', { advice: `Sessions would pile up to the cap of ${SESSION_CAP}. ${REPORT_ADVICE}` }))
      else lines.push(checkLine('delete', 'delete', 'ok', 'session deleted; the list no longer holds it', { details: { sessionsAfter: after.sessions?.length } }))
    } catch (error) {
      lines.push(_failed('delete', 'delete', `deleting the session failed: ${(error as Error).message}`, error))
    }
    return lines
  } finally {
    if (created && !deleted) await _deleteQuietly(probe, journal, created.id)
  }
}

async function _complete(probe: Probe, sessionId: number, text: string, files: string[] = []): Promise<CompletionRun> {
  const shape = createStreamShape()
  const started = performance.now()
  let firstByteMs: number | undefined
  let error: unknown
  try {
    await probe.call(
      'completions',
      async (o: CallOptions) => {
        const events = await probe.client.openCompletion({ sessionId, text, files }, o)
        firstByteMs = Math.round(performance.now() - started)
        for await (const _ of events) {
          // The shape is read from the raw events (onRaw); the parsed ones only need draining.
        }
      },
      shape.feed,
    )
  } catch (caught) {
    error = caught
  }
  return { shape: shape.summary(), error, firstByteMs, totalMs: Math.round(performance.now() - started) }
}

function _judgeCompletion(run: CompletionRun, model: string): CheckLine {
  const { shape } = run
  const seen = `${model}: ${describeStreamShape(shape)}; first byte ${run.firstByteMs ?? '?'} ms, all ${run.totalMs} ms`
  const details = { ...shape, text: undefined, answerChars: shape.text.length, firstByteMs: run.firstByteMs, totalMs: run.totalMs, error: run.error ? (run.error as Error).message : undefined }
  if (run.error && isXipuError(run.error, 'E_TOKEN_EXPIRED')) return _failed('completion', 'completion', `${model}: ${(run.error as Error).message}`, run.error)
  if (shape.errors.length > 0) return checkLine('completion', 'completion', 'fail', seen, { advice: `The platform reported an error mid-answer. ${REPORT_ADVICE}`, details })
  if (!shape.result) {
    return checkLine('completion', 'completion', 'fail', seen, {
      advice: `Without the result event the adapter cannot tell a finished answer from a cut one, nor read the token counts. ${REPORT_ADVICE}`,
      details,
    })
  }
  if (run.error) {
    // A stream the adapter's reader refused (no [DONE] with a result, a stall, a break).
    return checkLine('completion', 'completion', 'fail', `${seen}; the adapter's reader said: ${(run.error as Error).message}`, { advice: REPORT_ADVICE, details })
  }
  if (shape.pieces === 0) {
    return checkLine('completion', 'completion', 'warn', `${seen}: the answer came whole at the end, not streamed`, { advice: 'Streaming clients will see the answer at once, at the end.', details })
  }
  return checkLine('completion', 'completion', 'ok', seen, { details })
}

function _judgeHistory(run: CompletionRun, nonce: string): CheckLine {
  if (run.error) return checkLine('history', 'history', 'warn', `the second turn failed: ${(run.error as Error).message}`, { advice: 'Whether a contextCount-0 session carries history is unknown: keep XIPU_SESSION_REUSE=0 until --check says it is safe.' })
  const answer = run.shape.text.replace(/\s+/g, ' ').trim()
  const quoted = answer.length > 60 ? `${answer.slice(0, 60)}…` : answer
  const details = { sawNonce: answer.toUpperCase().includes(nonce), answerChars: answer.length }
  if (details.sawNonce) {
    return checkLine('history', 'history', 'fail', 'a contextCount-0 session carried history: the second turn knew the code from the first. Session reuse is NOT safe on this account', {
      advice: 'Set XIPU_SESSION_REUSE=0 in .env (one fresh session per request), and please report it (npx tsx adapter.ts --check --json).',
      details,
    })
  }
  return checkLine('history', 'history', 'ok', `the second turn did not know the code from the first ("${quoted}"): a contextCount-0 session carries no history, so reusing sessions is safe`, { details })
}

async function _listSessions(probe: Probe): Promise<{ sessions?: XipuSession[]; raw?: unknown; error?: string }> {
  let raw: unknown
  try {
    const sessions = await probe.call('session', (o) => probe.client.listSessions(o), (r) => (raw = r))
    return { sessions, raw }
  } catch (error) {
    return { error: (error as Error).message }
  }
}

async function _checkContextCount(probe: Probe, fields: SessionFields & { contextCount: number }, created: { id: number; reply: unknown }, listed: { sessions?: XipuSession[]; error?: string }): Promise<CheckLine> {
  const fromReply = contextCountOf((created.reply as { data?: unknown } | undefined)?.data)
  const entry = listed.sessions?.find((s) => s.id === created.id)
  const fromList = contextCountOf(entry)
  const total = listed.sessions?.length
  const mine = listed.sessions?.filter((s) => isAdapterSessionName(s.name)).length
  const room = total === undefined ? '' : `; ${total} of ${SESSION_CAP} sessions in use (${mine} the adapter's, this one included)`
  const details = { sessionId: maskId(created.id), contextCount: { sent: fields.contextCount, reply: fromReply ?? null, list: fromList ?? null }, listed: Boolean(entry), sessions: total, adapterSessions: mine }
  const said = `reply says ${fromReply ?? '(no contextCount)'}, list says ${listed.error ? `(unreadable: ${listed.error})` : entry ? (fromList ?? '(no contextCount)') : '(not listed)'}`
  const seen = `created ${maskId(created.id)} for ${fields.model} with contextCount 0: ${said}${room}`
  const values = [fromReply, fromList].filter((v): v is number => v !== undefined)
  if (values.length === 0) {
    return checkLine('session', 'session', 'warn', `${seen}; whether contextCount took is not shown (the history line tells)`, { details })
  }
  if (values.every((v) => v === fields.contextCount)) return checkLine('session', 'session', 'ok', seen, { details })

  // Not taken on create: the protocol document leaves open whether it takes only on an update.
  let updateReply: unknown
  try {
    await probe.call('saveSession', (o) => probe.client.saveSession({ ...fields, id: created.id }, o), (raw) => (updateReply = raw))
  } catch (error) {
    return checkLine('session', 'session', 'fail', `${seen}; an update to set it failed: ${(error as Error).message}`, { advice: _contextAdvice(), details })
  }
  const afterUpdate = contextCountOf((updateReply as { data?: unknown } | undefined)?.data)
  Object.assign(details, { updateReply: afterUpdate ?? null })
  if (afterUpdate === fields.contextCount) {
    return checkLine('session', 'session', 'warn', `${seen}; it took only on an update (one more call per new session)`, { advice: 'The adapter makes that update itself once per session; nothing to do.', details })
  }
  return checkLine('session', 'session', 'fail', `${seen}; an update did not take it either (${afterUpdate ?? 'not shown'})`, { advice: _contextAdvice(), details })
}

function _contextAdvice(): string {
  return `The platform keeps feeding earlier turns to the model, so sessions cannot be reused: set XIPU_SESSION_REUSE=0 in .env. ${REPORT_ADVICE}`
}

function _failed(id: string, title: string, seen: string, error: unknown): CheckLine {
  const advice = isXipuError(error, 'E_TOKEN_EXPIRED')
    ? 'Run npx tsx auth.ts to log in again.'
    : isXipuError(error, 'E_SESSION_CAP')
      ? `The account holds ${SESSION_CAP} sessions: delete some of your web chats (the adapter's own leftovers are swept by npx tsx keepalive.ts --once).`
      : isXipuError(error, 'E_RATE_LIMITED')
        ? 'Another program may be using the account right now; raise XIPU_MIN_GAP_MS if this repeats.'
        : REPORT_ADVICE
  return checkLine(id, title, 'fail', seen, { advice, details: { code: isXipuError(error) ? error.code : 'unexpected' } })
}

async function _deleteQuietly(probe: Probe, journal: Journal, id: number): Promise<void> {
  try {
    await probe.client.deleteSessions([id], { priority: 'cleanup', retries: 2 })
    journal.remove(id)
  } catch {
    // The journal keeps it: the adapter's next sweep deletes it.
  }
}
