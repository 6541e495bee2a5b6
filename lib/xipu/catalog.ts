/**
 * The model list: the platform's own catalog (`GET config`, through the
 * pacer), cached for minutes; the built-in list when the catalog cannot be
 * read. Any model id is passed through to the platform either way.
 */
import { untilAborted } from '../abort.ts'
import type { ConsolaInstance } from 'consola'
import type { Settings } from '../settings.ts'
import type { CatalogModel, XipuClient } from './client.ts'

/**
 * The fallback when the catalog cannot be read, following the latest catalogs
 * on record (see the protocol document): October 2026 first, then June 2026,
 * then the older ids the README and clients still use. Only `multimodal`
 * entries the record shows taking images are marked so: `gpt-5.6-luna` saw
 * images right in a live test.
 * @internal test hook: outside this module only tests use it.
 */
export const BUILTIN_CATALOG: readonly CatalogModel[] = [
  // 2026-10-08 (21 models; these three are on record)
  { id: 'gpt-5.6-luna', multimodal: true },
  { id: 'gpt-5.4-nano', multimodal: false },
  { id: 'qwen3.6-27b', multimodal: false },
  // June 2026
  { id: 'gpt-5.5', multimodal: false },
  { id: 'gpt-5.4', multimodal: false },
  { id: 'DeepSeek-R1', multimodal: false },
  { id: 'DeepSeek-V3.1-W8A8', multimodal: false },
  { id: 'qwen-max', multimodal: false },
  // Earlier: the README's examples and the web search variant of mid-2025
  { id: 'gpt-4.1', multimodal: false },
  { id: 'DeepseekR1联网', multimodal: false },
]

/**
 * The ids of `BUILTIN_CATALOG`, in its order.
 * @internal test hook: outside this module only tests use it.
 */
export const BUILTIN_MODELS: readonly string[] = BUILTIN_CATALOG.map((m) => m.id)

// After a failed catalog read, try the platform again after this long.
const CATALOG_RETRY_MS = 30_000

export interface ModelList {
  models: CatalogModel[]
  /** `platform` when read from the catalog, `builtin` when it could not be. */
  source: 'platform' | 'builtin'
}

/**
 * @example
 * const catalog = createModelCatalog({ client, settings: () => store.get(), log })
 * const { models } = await catalog.list()
 */
export function createModelCatalog(deps: { client: XipuClient; settings: () => Settings; log: ConsolaInstance }) {
  let cached: { at: number; list: ModelList } | undefined
  let pending: Promise<ModelList> | undefined

  function _builtin(): ModelList {
    const configured = deps.settings().models
    const models = configured ? configured.map((id) => ({ id, multimodal: false })) : BUILTIN_CATALOG.map((m) => ({ ...m }))
    return { models, source: 'builtin' }
  }

  // Shared by every caller, so it must not stop for any one of them: with the first
  // caller's signal, one client hanging up made everyone get the fallback for 30 s.
  async function _load(): Promise<ModelList> {
    const configured = deps.settings().models
    if (configured) return _builtin()
    try {
      const models = await deps.client.getCatalog({ retries: 1 })
      if (models.length === 0) return _builtin()
      const list: ModelList = { models, source: 'platform' }
      cached = { at: Date.now(), list }
      return list
    } catch (error) {
      deps.log.warn(`Could not read the platform's model catalog (${(error as Error).message}); offering the built-in list.`)
      const list = _builtin()
      // Keep the fallback for a short while: during an outage every /v1/models call
      // would otherwise spend paced platform calls (and backoff) on the catalog again.
      cached = { at: Date.now() - deps.settings().modelsTtlMs + CATALOG_RETRY_MS, list }
      return list
    }
  }

  return {
    /**
     * The models, from the cache when it is fresh. Concurrent callers share one
     * platform call; `signal` only stops this caller's wait (`E_ABORTED`), never
     * the shared load.
     */
    async list(signal?: AbortSignal): Promise<ModelList> {
      if (cached && Date.now() - cached.at < deps.settings().modelsTtlMs) return cached.list
      pending ??= _load().finally(() => (pending = undefined))
      return untilAborted(pending, signal, 'models: the client went away')
    },
    /** Forgets the cached catalog. */
    clear(): void {
      cached = undefined
    },
  }
}

export type ModelCatalog = ReturnType<typeof createModelCatalog>

