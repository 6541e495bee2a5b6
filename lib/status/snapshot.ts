/**
 * The status page's data (`GET /status.json`): the token's expiry and the
 * keepalive's next renewal, the platform's models, the queue and the
 * sessions in use, the pacer's last calls, the last requests and the
 * problems worth knowing. Never a token, a key or (unless XIPU_LOG_PROMPTS
 * is on) a prompt: only what a person glancing at the page needs.
 */
import { getTokenLifetime } from '../jwt.ts'
import { keepaliveLockFile } from '../keepalive/jobs.ts'
import { planRenewal } from '../keepalive/renewal.ts'
import { readLockOwner } from '../lock.ts'
import { isWriterAlive } from '../process-identity.ts'
import type { SessionManager } from '../sessions/manager.ts'
import type { Settings } from '../settings.ts'
import type { ModelCatalog } from '../xipu/catalog.ts'
import type { Pacer } from '../xipu/pacer.ts'
import type { StatusRecorder } from './recorder.ts'

export interface StatusDeps {
  settings: () => Settings
  pacer: Pacer
  sessions: SessionManager
  models: ModelCatalog
  status: StatusRecorder
  /** Whether the keepalive jobs run in this process (`adapter.ts --keepalive`). */
  keepaliveHere?: () => boolean
  startedAt: number
  isShuttingDown?: () => boolean
}

/**
 * @example
 * const snapshot = await buildStatusSnapshot(deps)
 */
export async function buildStatusSnapshot(deps: StatusDeps, signal?: AbortSignal) {
  const settings = deps.settings()
  const { models, source } = await deps.models.list(signal).catch(() => ({ models: [], source: 'unavailable' as const }))
  return {
    name: 'xipu-openai',
    now: Date.now(),
    status: deps.isShuttingDown?.() ? 'shutting_down' : 'ok',
    startedAt: deps.startedAt,
    apiBase: settings.apiBase,
    apiKeyRequired: Boolean(settings.apiKey),
    logPrompts: settings.logPrompts,
    token: _token(settings),
    keepalive: _keepalive(settings, deps.keepaliveHere?.() ?? false),
    models: { source, list: models.map((m) => ({ id: m.id, label: m.label ?? null, multimodal: m.multimodal })) },
    queue: { ...deps.pacer.depth(), gapMs: settings.minGapMs, calls: deps.pacer.callCount() },
    sessions: { active: deps.sessions.activeCount(), inFlight: deps.sessions.inFlight(), ready: deps.sessions.readyId() !== undefined, pooled: deps.sessions.pool.size(), pooledFree: deps.sessions.pool.freeIds().length },
    calls: deps.status.calls(),
    requests: { total: deps.status.total(), last: deps.status.requests() },
    problems: deps.status.problems(),
  }
}

export type StatusSnapshot = Awaited<ReturnType<typeof buildStatusSnapshot>>

function _token(settings: Settings) {
  if (!settings.jmToken) return { present: false as const, expiresAt: null, issuedAt: null }
  try {
    const life = getTokenLifetime(settings.jmToken)
    return { present: true as const, expiresAt: life.expiresAt?.getTime() ?? null, issuedAt: life.issuedAt?.getTime() ?? null }
  } catch {
    return { present: true as const, valid: false, expiresAt: null, issuedAt: null }
  }
}

/** Who renews the token, and when the next renewal is due (the keepalive's own arithmetic). */
function _keepalive(settings: Settings, here: boolean) {
  const owner = here ? undefined : readLockOwner(keepaliveLockFile(settings.envFile))
  const where = here ? 'this process' : owner && isWriterAlive(owner) ? 'another process' : 'none'
  const plan = planRenewal(settings.jmToken, settings.reauthBeforeMs)
  const nextRenewalAt = plan.due ? Date.now() : Number.isFinite(plan.at) ? plan.at : null
  return { running: where, credentials: Boolean(settings.username && settings.password), nextRenewalAt, reason: plan.reason }
}
