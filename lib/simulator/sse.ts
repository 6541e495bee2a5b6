/**
 * The simulated completion stream, byte for byte as the protocol document
 * describes it: `data:` events with `type: "string"` pieces (and
 * `reasoning_data` pieces for reasoning models), a final `object` event, then
 * `data: [DONE]`, written in chunks cut at arbitrary byte offsets (inside
 * UTF-8 characters too).
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { randomUUID } from 'node:crypto'
import { countTokens, type Answer, type Directives } from './answers.ts'

export interface StreamPlan {
  answer: Answer
  directives: Directives
  promptTokens: number
  /** Delay before the first byte, in ms. */
  firstByteDelayMs: number
  /** Whether the stream ends with the result event and with `[DONE]` (default both). */
  ending?: { result?: boolean; done?: boolean }
  /** Seed of the piece and cut sizes: the same prompt cuts the same way. */
  seed: number
  /** Called once the stream has ended normally (with `[DONE]`). */
  onComplete?: () => void
  /** Called once the stream has ended in any way (complete, cut short, or cancelled by the client). */
  onEnd?: () => void
}

/** A small deterministic PRNG (mulberry32). */
export function createRandom(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** Splits text into pieces of 1 to 6 characters (whole code points). */
function _pieces(text: string, random: () => number): string[] {
  const chars = [...text]
  const out: string[] = []
  // Long answers use larger pieces, as real models stream several tokens at once.
  const max = chars.length > 10_000 ? 64 : 6
  for (let i = 0; i < chars.length; ) {
    const size = 1 + Math.floor(random() * max)
    out.push(chars.slice(i, i + size).join(''))
    i += size
  }
  return out
}

function _event(payload: unknown): string {
  return `data: ${typeof payload === 'string' ? payload : JSON.stringify(payload)}\n\n`
}

/** The events of one reply, as text, in order, with the fault directives applied. */
export function planEvents(plan: StreamPlan): { events: string[]; stall: boolean; complete: boolean } {
  const random = createRandom(plan.seed)
  const id = randomUUID()
  const { directives, answer } = plan
  // The word filter's bare 200: the stream ends at once, with no event at all.
  if (answer.filtered === 'empty-body') return { events: [], stall: false, complete: true }
  const pieces = directives.noPieces
    ? []
    : [
        ..._pieces(answer.reasoning, random).map((data) => _event({ id, type: 'reasoning_data', data, code: 0 })),
        ..._pieces(answer.text, random).map((data) => _event({ id, type: 'string', data, code: 0 })),
      ]
  const limit = directives.errorAfter ?? directives.truncateAfter ?? directives.stallAfter
  if (limit !== undefined) {
    const events = pieces.slice(0, limit)
    if (directives.errorAfter !== undefined) {
      events.push(_event({ id, type: 'string', data: null, code: 500, msg: 'Simulated model error: the upstream model failed' }))
    }
    return { events, stall: directives.stallAfter !== undefined, complete: false }
  }
  const result = {
    id,
    type: 'object',
    data: {
      aiText: answer.text,
      reason: answer.reasoning,
      promptTokens: plan.promptTokens,
      completionTokens: countTokens(answer.text) + countTokens(answer.reasoning),
    },
    code: 0,
  }
  const ending = [plan.ending?.result === false ? '' : _event(result), plan.ending?.done === false || directives.noDone ? '' : _event('[DONE]')].filter(Boolean)
  return { events: [...pieces, ...ending], stall: false, complete: true }
}

/**
 * The reply body: the planned events as bytes, cut at random offsets and
 * written with a pause between writes so that they reach the client apart.
 */
export function createEventStream(plan: StreamPlan, signal?: AbortSignal): ReadableStream<Uint8Array> {
  const { events, stall, complete } = planEvents(plan)
  const bytes = Buffer.from(events.join(''), 'utf8')
  const random = createRandom(plan.seed ^ 0x5bd1e995)
  const slow = plan.directives.slow ?? 0
  // Megabyte answers go in larger cuts; small ones in 1 to 40 bytes to hit every boundary.
  const maxCut = bytes.length > 64 * 1024 ? 16 * 1024 : 40
  let offset = 0
  let started = false

  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (!started) {
        started = true
        if (plan.firstByteDelayMs > 0) await _sleep(plan.firstByteDelayMs, signal)
      }
      if (offset >= bytes.length) {
        if (stall) {
          // Keep the connection open and silent until the client gives up.
          await _sleep(24 * 3600_000, signal)
          return
        }
        controller.close()
        if (complete) plan.onComplete?.()
        plan.onEnd?.()
        return
      }
      const size = 1 + Math.floor(random() * maxCut)
      controller.enqueue(new Uint8Array(bytes.subarray(offset, offset + size)))
      offset += size
      await (slow > 0 ? _sleep(slow, signal) : new Promise((r) => setImmediate(r)))
    },
    cancel() {
      plan.onEnd?.()
    },
  })
}

/** Waits `ms`, or less when `signal` aborts (the caller then sees the closed stream). */
function _sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return sleep(ms, undefined, { signal }).catch(() => {})
}
