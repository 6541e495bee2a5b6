/**
 * `XIPU_MODEL_MAP`: agents send the model names they know (Claude Code sends
 * `claude-sonnet-4-5`, Codex `gpt-5-codex`), which the platform may not
 * offer. The map sends them to a platform model instead, for every API
 * surface alike; replies keep showing the name the client asked for.
 */
import type { ChatRequest } from './request.ts'

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
