/**
 * `XIPU_MODEL_MAP`: agents send the model names they know (Claude Code sends
 * `claude-sonnet-4-5`, Codex `gpt-5-codex`), which the platform may not
 * offer. The map sends them to a platform model instead, for every API
 * surface alike; replies keep showing the name the client asked for.
 */
import type { ChatRequest } from '../neutral.ts'

/**
 * The request with its platform model looked up in `map` (unmapped names pass through).
 *
 * @example
 * applyModelMap(request, { 'claude-haiku-4-5': 'gpt-5.4-mini' }).upstreamModel // 'gpt-5.4-mini'
 */
export function applyModelMap<T extends Pick<ChatRequest, 'upstreamModel'>>(request: T, map: Record<string, string>): T {
  const mapped = map[request.upstreamModel]
  return mapped === undefined ? request : { ...request, upstreamModel: mapped }
}

/** A name of `XIPU_MODEL_MAP` as it is listed next to the catalog. */
export interface ModelAlias {
  id: string
  /** The platform model it stands for. */
  aliasOf: string
  /** The platform model's, when the catalog knows it. */
  multimodal: boolean
}

/**
 * The names of the map that the catalog does not hold already, in the map's
 * order. Clients that check the model list before they start (Claude Code's
 * `--model`, an IDE's model picker) then accept `claude-sonnet-4-5` too.
 *
 * @example
 * listModelAliases({ 'claude-sonnet-4-5': 'gpt-4.1' }, [{ id: 'gpt-4.1', multimodal: false }])
 * // [{ id: 'claude-sonnet-4-5', aliasOf: 'gpt-4.1', multimodal: false }]
 */
export function listModelAliases(map: Record<string, string>, models: Array<{ id: string; multimodal?: boolean }>): ModelAlias[] {
  const known = new Map(models.map((m) => [m.id, m]))
  return Object.entries(map)
    .filter(([alias]) => !known.has(alias))
    .map(([alias, target]) => ({ id: alias, aliasOf: target, multimodal: known.get(target)?.multimodal ?? false }))
}
