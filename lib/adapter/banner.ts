/**
 * What adapter.ts prints once it serves: where to point a client, whether a
 * key is needed, the token's state (with what to run when it is unusable),
 * the platform and the models.
 */
import { loginAdvice } from '../advice.ts'
import { describeToken, isTokenUnusable } from '../jwt.ts'
import type { Settings } from '../settings.ts'

/** Models shown by name; the rest are counted. */
const BANNER_MODELS = 8

export interface BannerFacts {
  baseURL: string
  settings: Settings
  models: { id: string }[]
  /** Where the model list came from (`catalog`, `builtin`, `settings`). */
  source: string
  simulated: boolean
}

/**
 * @example
 * log.box(formatBanner({ baseURL, settings, models, source, simulated: false }))
 */
export function formatBanner(facts: BannerFacts): string {
  const { settings, models } = facts
  const token = describeToken(settings.jmToken) + (isTokenUnusable(settings.jmToken) ? `: ${loginAdvice(settings)}` : '')
  const names = models.slice(0, BANNER_MODELS).map((m) => m.id).join(', ')
  return [
    `OpenAI base URL:  ${facts.baseURL}`,
    `API key:          ${settings.apiKey ? 'required (ADAPTER_API_KEY)' : 'any value (no ADAPTER_API_KEY set)'}`,
    `Token:            ${token}`,
    `Platform:         ${settings.apiBase}${facts.simulated ? ' (simulator)' : ''}`,
    `Models (${facts.source}): ${names}${models.length > BANNER_MODELS ? `, … ${models.length} in all` : ''}`,
  ].join('\n')
}

/** The curl line the demo prints, to try the adapter at once. */
export function formatTryIt(baseURL: string, model: string): string {
  const body = JSON.stringify({ model, stream: true, messages: [{ role: 'user', content: 'Hello!' }] })
  return `\nTry it:\n  curl -N ${baseURL}/chat/completions -H 'content-type: application/json' -d '${body}'\n`
}
