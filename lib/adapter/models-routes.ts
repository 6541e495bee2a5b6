/**
 * `GET /v1/models` and `GET /v1/models/{id}`: the platform's catalog
 * (cached; the built-in list when it cannot be read), then the names of
 * `XIPU_MODEL_MAP`, marked as aliases (`owned_by: "xipu-alias"`,
 * `alias_of`), so that clients that check the list accept the names they send.
 */
import { getRouterParam, type H3, type H3Event } from 'h3'
import { listModelAliases, type ModelAlias } from '../chat/model-map.ts'
import { XipuError } from '../errors.ts'
import type { Settings } from '../settings.ts'
import type { ModelCatalog } from '../xipu/catalog.ts'

// `display_name` is the name in Anthropic's terms: Anthropic's SDK and Claude Code's gateway model
// discovery read `data[].id` and `display_name` from the same list.
function _entry(id: string, name: string, multimodal: boolean) {
  return { id, object: 'model', created: 0, owned_by: 'xipu', name, display_name: name, multimodal }
}

function _aliasEntry(alias: ModelAlias) {
  return { ..._entry(alias.id, `${alias.id} → ${alias.aliasOf}`, alias.multimodal), owned_by: 'xipu-alias', alias_of: alias.aliasOf }
}

/**
 * @example
 * registerModelsRoutes(app, { settings, models }) // serves /v1/models, /v1/models/{id} and the same without /v1
 */
export function registerModelsRoutes(app: H3, deps: { settings: () => Settings; models: ModelCatalog }): void {
  const listModels = async (event: H3Event) => {
    const { models, source } = await deps.models.list(event.req.signal)
    const aliases = listModelAliases(deps.settings().modelMap, models)
    return {
      object: 'list',
      data: [
        ...models.map((m) => ({ ..._entry(m.id, m.label ?? m.id, m.multimodal), source })),
        ...aliases.map((a) => ({ ..._aliasEntry(a), source })),
      ],
    }
  }
  const getModel = async (event: H3Event) => {
    const id = decodeURIComponent(getRouterParam(event, 'id') ?? '')
    const { models } = await deps.models.list(event.req.signal)
    const model = models.find((m) => m.id === id || `${m.id}:online` === id)
    if (model) return _entry(id, model.label ?? model.id, model.multimodal)
    const alias = listModelAliases(deps.settings().modelMap, models).find((a) => a.id === id)
    if (alias) return _aliasEntry(alias)
    throw new XipuError('E_NOT_FOUND', `The model '${id}' is not in the platform's catalog. Any id is still passed through to chat completions.`, { param: 'model' })
  }

  // Some clients take the base URL without /v1; serve both.
  for (const prefix of ['/v1', '']) {
    app.get(`${prefix}/models`, listModels)
    app.get(`${prefix}/models/:id`, getModel)
  }
}
