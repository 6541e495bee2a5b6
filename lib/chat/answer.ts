/**
 * The one place that reads the platform's answer for every API surface:
 * pieces become content deltas, reasoning pieces reasoning deltas; the final
 * result is used only for what did not stream; `stop` sequences cut the
 * relayed text; usage is counted (or estimated when the platform gives none).
 */
import type { ConsolaInstance } from 'consola'
import { XipuError } from '../errors.ts'
import type { ChatRequest, Delta, FinishReason, ToolCall, Usage } from '../neutral.ts'
import type { XipuEvent } from '../xipu/events.ts'
import { createStopCutter } from './stop-cutter.ts'

export { createStopCutter }

/** The start of the sentence the school's word filter answers with (the web app shows it for an empty answer too). */
const FILTER_SENTENCE_START = "unfortunately, i don't have any relevant information regarding this matter"
/** The backend's whole answer to a prompt it cannot read. */
const REQUEST_ERR = 'Request Err!'
// How much of an answer's start is kept to recognise those two.
const HEAD_CHARS = 200

/**
 * What a whole answer is, judged by its start, its length and whether any
 * reasoning came: the word filter's empty answer or canned sentence, the
 * backend's `Request Err!`, or an answer.
 *
 * @example
 * classifyAnswer('', 0, false) // 'filtered'
 * classifyAnswer('Request Err!', 12, false) // 'request-error'
 */
export function classifyAnswer(head: string, length: number, hadReasoning: boolean): 'filtered' | 'request-error' | 'answer' {
  const text = head.trim()
  if (text === '' && !hadReasoning && head.length === length) return 'filtered'
  if (text === REQUEST_ERR && head.length === length) return 'request-error'
  if (text.replace(/[‘’]/g, "'").toLowerCase().startsWith(FILTER_SENTENCE_START)) return 'filtered'
  return 'answer'
}

/**
 * Screens the platform's events for the answers that are not answers, for
 * every API surface at once: `Request Err!` as the whole answer becomes a 502
 * `E_UPSTREAM` (its pieces are held back while the answer could still be
 * exactly that: at most 12 characters), and the word filter is logged (the
 * finish reason `content_filter` is the mapper's).
 *
 * @example
 * const screened = screenAnswer(events, log)
 */
export async function* screenAnswer(events: AsyncGenerator<XipuEvent>, log?: ConsolaInstance): AsyncGenerator<XipuEvent> {
  const held: XipuEvent[] = []
  let holding = true
  let streamed = false
  let head = ''
  let length = 0
  let reasoning = false
  let resultText: string | undefined
  for await (const event of events) {
    if (event.kind === 'reasoning') {
      reasoning = true
      // Reasoning is never held: a model that thinks is no `Request Err!`.
      if (held.length > 0) holding = false
    } else if (event.kind === 'content') {
      streamed = true
      length += event.text.length
      if (head.length < HEAD_CHARS) head += event.text.slice(0, HEAD_CHARS - head.length)
      if (holding && !REQUEST_ERR.startsWith(head.trim())) holding = false
    } else {
      resultText = event.aiText ?? ''
      if (!streamed) {
        head = resultText.slice(0, HEAD_CHARS)
        length = resultText.length
        if (holding && !REQUEST_ERR.startsWith(head.trim())) holding = false
      }
    }
    if (holding && event.kind !== 'reasoning') {
      held.push(event)
      continue
    }
    if (held.length > 0) yield* held.splice(0)
    yield event
  }
  const kind = classifyAnswer(head, length, reasoning)
  if (kind === 'request-error') {
    throw new XipuError('E_UPSTREAM', `The platform answered "${REQUEST_ERR}": it could not read the prompt. Try plainer text (no raw file paths or markup).`)
  }
  if (kind === 'filtered') {
    log?.warn(`The platform filtered the prompt (the school's word filter: ${length === 0 ? 'an empty answer' : 'its canned sentence'}); the client gets finish_reason "content_filter".`)
  }
  yield* held
}

/** Rough token estimate for when the platform gives no counts. */
function _estimateTokens(text: string): number {
  return Math.ceil(text.length / 4)
}

/** The estimate usage falls back on, for surfaces that count without asking (e.g. /v1/messages/count_tokens). */
export const estimateTokens = _estimateTokens

/**
 * Turns the platform's events for one request into OpenAI deltas, and keeps
 * what the final chunk, the usage and a non-streaming reply need.
 *
 * @example
 * const mapper = createAnswerMapper(request)
 * for await (const event of events) for (const delta of mapper.feed(event)) send(delta)
 * const { finishReason, usage } = mapper.finish()
 */
export function createAnswerMapper(request: ChatRequest) {
  const cutter = createStopCutter(request.stop)
  let content = ''
  let reasoning = ''
  let streamedContent = false
  let streamedReasoning = false
  let stopped = false
  let stopSequence: string | undefined
  let result: Extract<XipuEvent, { kind: 'result' }> | undefined
  // The start and length of what the platform said, before any stop sequence cut it (classifyAnswer).
  let head = ''
  let length = 0

  function _content(text: string): Delta[] {
    length += text.length
    if (head.length < HEAD_CHARS) head += text.slice(0, HEAD_CHARS - head.length)
    if (stopped) return []
    const cut = cutter.push(text)
    stopped = cut.stopped
    stopSequence = cut.sequence
    content += cut.text
    return cut.text ? [{ content: cut.text }] : []
  }

  return {
    /** Deltas to relay for one platform event. */
    feed(event: XipuEvent): Delta[] {
      if (event.kind === 'content') {
        streamedContent = true
        return _content(event.text)
      }
      if (event.kind === 'reasoning') {
        streamedReasoning = true
        reasoning += event.text
        return [{ reasoning_content: event.text }]
      }
      result = event
      const out: Delta[] = []
      // The result repeats the whole answer: use it only for what did not stream.
      if (!streamedReasoning && event.reason) {
        reasoning += event.reason
        out.push({ reasoning_content: event.reason })
      }
      if (!streamedContent && event.aiText) out.push(..._content(event.aiText))
      return out
    },
    /** Whether a stop sequence was hit (the caller stops reading the platform). */
    isStopped: () => stopped,
    /** The stop sequence that ended the answer, if one did (Anthropic's `stop_sequence`). */
    stopSequence: () => stopSequence,
    /** The last deltas, the finish reason and the usage, once the platform is done. */
    finish(): { deltas: Delta[]; finishReason: FinishReason; usage: Usage } {
      const rest = stopped ? '' : cutter.flush()
      content += rest
      const prompt = result?.promptTokens ?? _estimateTokens(request.prompt)
      const completion = result?.completionTokens ?? _estimateTokens(content) + _estimateTokens(reasoning)
      // The word filter's empty answer or canned sentence (its text kept) is no normal end: OpenAI's content_filter says so.
      const filtered = !stopped && classifyAnswer(head, length, reasoning !== '') === 'filtered'
      const finishReason: FinishReason = filtered ? 'content_filter' : !stopped && request.maxTokens > 0 && completion >= request.maxTokens ? 'length' : 'stop'
      return {
        deltas: rest ? [{ content: rest }] : [],
        finishReason,
        usage: { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion },
      }
    },
    /** Everything relayed so far. */
    text: () => ({ content, reasoning }),
  }
}
