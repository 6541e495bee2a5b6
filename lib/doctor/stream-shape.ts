/**
 * What a completion stream looked like on the wire: how many `type: "string"`
 * pieces, reasoning pieces, whether the `type: "object"` result event and
 * `[DONE]` came, and anything else. Built from the raw `data:` texts the
 * client passes to `onRaw`, so that it shows the platform, not our reading of it.
 */

export interface StreamShape {
  /** `type: "string"` events with text. */
  pieces: number
  /** Reasoning pieces (`type: "reasoning_data"` or a `reasoning_data` field). */
  reasoningPieces: number
  /** The `type: "object"` result event's fields, when it came. */
  result?: { aiTextChars: number; reasonChars: number; promptTokens?: number; completionTokens?: number; fields: string[] }
  done: boolean
  /** Events with a `code` other than 0. */
  errors: string[]
  /** `type` values we do not know, with counts. */
  otherTypes: Record<string, number>
  /** `data:` texts that were not JSON (other than `[DONE]`). */
  nonJson: number
  /** The answer as the pieces spelled it (the result's `aiText` when no pieces came). */
  text: string
  /** Fields seen on piece events, beyond `id`, `type`, `data`, `code`. */
  extraFields: string[]
}

/**
 * @example
 * const shape = createStreamShape()
 * await probe.call('completions', (o) => read(client.openCompletion(payload, o)), shape.feed)
 * shape.summary().result // { aiTextChars: 12, … }
 */
export function createStreamShape() {
  const shape: StreamShape = { pieces: 0, reasoningPieces: 0, done: false, errors: [], otherTypes: {}, nonJson: 0, text: '', extraFields: [] }
  const extra = new Set<string>()
  let streamed = ''

  function feed(raw: unknown): void {
    if (typeof raw !== 'string') return
    if (raw.trim() === '[DONE]') {
      shape.done = true
      return
    }
    let event: Record<string, unknown>
    try {
      event = JSON.parse(raw) as Record<string, unknown>
    } catch {
      shape.nonJson++
      return
    }
    if (!event || typeof event !== 'object') {
      shape.nonJson++
      return
    }
    if (event.code !== undefined && event.code !== 0 && event.code !== '0') {
      const message = [event.msg, event.message, event.data].find((v) => typeof v === 'string' && v !== '')
      shape.errors.push(`code ${String(event.code)}${message ? `: ${String(message)}` : ''}`)
      return
    }
    for (const key of Object.keys(event)) if (!['id', 'type', 'data', 'code', 'reasoning_data'].includes(key)) extra.add(key)
    if (event.type === 'reasoning_data' || typeof event.reasoning_data === 'string') {
      shape.reasoningPieces++
    } else if (event.type === 'string') {
      if (typeof event.data === 'string') {
        shape.pieces++
        streamed += event.data
      }
    } else if (event.type === 'object' && event.data && typeof event.data === 'object') {
      const d = event.data as Record<string, unknown>
      const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : undefined)
      shape.result = {
        aiTextChars: typeof d.aiText === 'string' ? d.aiText.length : 0,
        reasonChars: typeof d.reason === 'string' ? d.reason.length : 0,
        promptTokens: num(d.promptTokens),
        completionTokens: num(d.completionTokens),
        fields: Object.keys(d),
      }
      if (streamed === '' && typeof d.aiText === 'string') streamed = d.aiText
    } else {
      const type = String(event.type)
      shape.otherTypes[type] = (shape.otherTypes[type] ?? 0) + 1
    }
  }

  return {
    feed,
    summary(): StreamShape {
      return { ...shape, text: streamed, extraFields: [...extra] }
    },
  }
}

/**
 * The shape in one line, as the doctor prints it.
 *
 * @example
 * describeStreamShape(shape) // '14 type:string pieces, 9 reasoning pieces, the type:object result (aiText 52 chars, 12+30 tokens), [DONE]'
 */
export function describeStreamShape(shape: StreamShape): string {
  const parts = [`${shape.pieces} type:string piece${shape.pieces === 1 ? '' : 's'}`]
  parts.push(shape.reasoningPieces > 0 ? `${shape.reasoningPieces} reasoning pieces` : 'no reasoning pieces')
  if (shape.result) {
    const r = shape.result
    const tokens = r.promptTokens !== undefined || r.completionTokens !== undefined ? `, ${r.promptTokens ?? '?'}+${r.completionTokens ?? '?'} tokens` : ', no token counts'
    const reason = r.reasonChars > 0 ? `, reason ${r.reasonChars} chars` : ''
    parts.push(`the type:object result (aiText ${r.aiTextChars} chars${reason}${tokens})`)
  } else {
    parts.push('NO type:object result event')
  }
  parts.push(shape.done ? '[DONE]' : 'no [DONE]')
  const others = Object.entries(shape.otherTypes).map(([type, n]) => `${n}× type:${type}`)
  if (others.length > 0) parts.push(`unknown events: ${others.join(', ')}`)
  if (shape.nonJson > 0) parts.push(`${shape.nonJson} non-JSON data lines`)
  if (shape.errors.length > 0) parts.push(`error events: ${shape.errors.join('; ')}`)
  return parts.join(', ')
}

/** What a completion returned: its wire shape, its answer, its error, its timing. */
export interface CompletionRun {
  shape: StreamShape
  error?: unknown
  firstByteMs?: number
  totalMs: number
}
