/**
 * The model list: the platform's own catalog (`GET config`, through the
 * pacer), cached for minutes; the built-in list when the catalog cannot be
 * read. Any model id is passed through to the platform either way.
 */
import type { ConsolaInstance } from 'consola'
import type { Settings } from '../settings.ts'
import type { CatalogModel, XipuClient } from './client.ts'

/** The web client's models (mid-2025) and a later one, from the protocol document. */
export const BUILTIN_MODELS = [
  'DeepSeek-R1',
  'DeepseekR1联网',
  'qwen-2.5-72b',
  'gpt-4.1-nano',
  'gpt-4.1',
  'o1-mini',
  'o3-mini',
  'gpt-o3',
  'o4-mini',
  'gemini-2.5-pro-exp-03-25',
  'claude-3-7-sonnet-20250219',
  'DeepSeek-V3.1-W8A8',
]

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
    const ids = deps.settings().models ?? BUILTIN_MODELS
    return { models: ids.map((id) => ({ id, multimodal: false })), source: 'builtin' }
  }

  async function _load(signal?: AbortSignal): Promise<ModelList> {
    const configured = deps.settings().models
    if (configured) return _builtin()
    try {
      const models = await deps.client.getCatalog({ signal, retries: 1 })
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
    /** The models, from the cache when it is fresh. Concurrent callers share one platform call. */
    async list(signal?: AbortSignal): Promise<ModelList> {
      if (cached && Date.now() - cached.at < deps.settings().modelsTtlMs) return cached.list
      pending ??= _load(signal).finally(() => (pending = undefined))
      return pending
    },
    /** Forgets the cached catalog. */
    clear(): void {
      cached = undefined
    },
  }
}

export type ModelCatalog = ReturnType<typeof createModelCatalog>
