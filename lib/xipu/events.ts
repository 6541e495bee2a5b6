/**
 * Reads one `data:` event of the platform's completion stream into a small
 * internal shape. Nothing else in the project looks at raw XIPU events.
 */
import { XipuError } from '../errors.ts'

export type XipuEvent =
  | { kind: 'content'; text: string }
  | { kind: 'reasoning'; text: string }
  | { kind: 'result'; aiText?: string; reason?: string; promptTokens?: number; completionTokens?: number }

/** Whether a platform `code` means success (it comes as 0 or "0"). */
export function isSuccessCode(code: unknown): boolean {
  return code === 0 || code === '0' || code === undefined
}

/**
 * Parses the text of one event. Returns `undefined` for an event that carries
 * nothing we relay, and throws `E_UPSTREAM` for an event whose `code` is not 0
 * (the shape of error events is not known for sure: `msg`, else `data`).
 *
 * @example
 * parseXipuEvent('{"type":"string","data":"你好","code":0}') // { kind: 'content', text: '你好' }
 */
export function parseXipuEvent(data: string): XipuEvent | undefined {
  let event: Record<string, unknown>
  try {
    event = JSON.parse(data) as Record<string, unknown>
  } catch {
    // Keep-alive comments and stray text are not part of the answer.
    return undefined
  }
  if (!event || typeof event !== 'object') return undefined
  if (!isSuccessCode(event.code)) {
    const message = typeof event.msg === 'string' && event.msg ? event.msg : typeof event.data === 'string' && event.data ? event.data : `code ${String(event.code)}`
    throw new XipuError('E_UPSTREAM', `The platform reported an error mid-answer: ${message}`)
  }
  if (event.type === 'reasoning_data' || typeof event.reasoning_data === 'string') {
    const text = typeof event.reasoning_data === 'string' ? event.reasoning_data : event.data
    return typeof text === 'string' && text !== '' ? { kind: 'reasoning', text } : undefined
  }
  if (event.type === 'string') {
    return typeof event.data === 'string' && event.data !== '' ? { kind: 'content', text: event.data } : undefined
  }
  if (event.type === 'object' && event.data && typeof event.data === 'object') {
    const d = event.data as Record<string, unknown>
    const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : undefined)
    return {
      kind: 'result',
      aiText: typeof d.aiText === 'string' ? d.aiText : undefined,
      reason: typeof d.reason === 'string' ? d.reason : undefined,
      promptTokens: num(d.promptTokens),
      completionTokens: num(d.completionTokens),
    }
  }
  return undefined
}
