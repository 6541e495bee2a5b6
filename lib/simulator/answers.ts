/**
 * What the simulated models say: deterministic, so tests can assert on it,
 * with a few multibyte characters so that byte-level cuts land inside them.
 * A prompt can carry `[[sim:…]]` directives to ask for faults or long
 * answers; users debugging a client use them too (see README). Tool
 * calls and JSON answers are in tool-answers.ts.
 */
import { createToolAnswer, reasoningWithCall, TOOL_DIRECTIVE } from './tool-answers.ts'

export interface CatalogEntry {
  value?: string
  model?: string
  name?: string
  label?: string
  multimodal?: boolean | number
}

/**
 * A late-2026 catalog of 21 models, in the mixed shapes the real one uses
 * (objects keyed by `value`, `model` or `name`, and bare strings).
 */
export const SIMULATED_CATALOG: Array<string | CatalogEntry> = [
  { value: 'gpt-5.6-luna', label: 'GPT-5.6 Luna', multimodal: true },
  { value: 'gpt-5.4', label: 'GPT-5.4', multimodal: true },
  { value: 'gpt-5.4-mini', label: 'GPT-5.4 mini', multimodal: 1 },
  { value: 'gpt-5.4-nano', label: 'GPT-5.4 nano', multimodal: 0 },
  { value: 'gpt-4.1', label: 'GPT-4.1', multimodal: true },
  { value: 'gpt-4.1-nano', label: 'GPT-4.1 nano', multimodal: false },
  { model: 'o3', label: 'o3 (reasoning)', multimodal: true },
  { model: 'o4-mini', label: 'o4-mini (reasoning)', multimodal: true },
  { value: 'claude-sonnet-4.5', label: 'Claude Sonnet 4.5', multimodal: true },
  { value: 'claude-3-7-sonnet-20250219', label: 'Claude 3.7 Sonnet', multimodal: true },
  { value: 'gemini-3-pro', label: 'Gemini 3 Pro', multimodal: true },
  { value: 'gemini-2.5-pro', label: 'Gemini 2.5 Pro', multimodal: true },
  { value: 'gemini-2.5-flash', label: 'Gemini 2.5 Flash', multimodal: true },
  { name: 'DeepSeek-R1', label: 'DeepSeek-R1 (reasoning)' },
  { name: 'DeepSeek-V3.1-W8A8', label: 'DeepSeek V3.1' },
  { value: 'deepseek-v3.2', label: 'DeepSeek V3.2' },
  { value: 'qwen3.6-27b', label: 'Qwen3.6 27B' },
  { value: 'qwen3-235b-a22b-thinking', label: 'Qwen3 235B Thinking' },
  'qwen-2.5-72b',
  'kimi-k2',
  'glm-4.6',
]

/** Reasoning models send their thinking as `reasoning_data` pieces. */
export function isReasoningModel(model: string): boolean {
  return /(^o\d)|r1|reason|thinking/i.test(model)
}

export interface Directives {
  /** Answer with this many bytes (about) of text. */
  long?: number
  /** Send an error event (code ≠ 0) after this many pieces. */
  errorAfter?: number
  /** End the stream after this many pieces, without `[DONE]`. */
  truncateAfter?: number
  /** Stop sending after this many pieces, but keep the connection open. */
  stallAfter?: number
  /** Wait this long between writes of the stream (each write is a cut of 1 to 40 bytes), in ms. */
  slow?: number
  /** Answer with the backend's refusal. */
  refuse?: boolean
  /** Send only the final object event, no pieces. */
  noPieces?: boolean
  /** End the stream after the result event, without `[DONE]` (the real platform may). */
  noDone?: boolean
  /** Answer `Request Err!`, as the backend does for a prompt it cannot read. */
  requestErr?: boolean
  /** The word filter's reply, when the prompt holds a banned word (default: the simulator's `wordFilter`). */
  filter?: WordFilterReply
  /** Answer with every earlier turn the server fed back (its user texts), or `Recall: nothing`. */
  recall?: boolean
}

/**
 * The school's word filter (the original adapter's list): a prompt holding
 * one of these gets no answer from the model, only the filter's reply.
 */
export const BANNED_WORDS = ['虐待', '色情', '情色', '换妻', '方法论', '性交', '性交易', '高潮', '生殖器', '三级']

/**
 * The sentence the web app shows for a filtered prompt; the platform sometimes sends it as the answer.
 *
 * @internal test hook: outside this module only tests use it.
 */
export const FILTER_SENTENCE =
  "Unfortunately, I don't have any relevant information regarding this matter. However. Please feel free to ask me other questions, and I'll do my best to help."

/**
 * How the filter answers: `empty` a well-formed stream with an empty result,
 * `canned` the sentence above as the answer, `empty-body` a 200 with no event at all.
 */
export type WordFilterReply = 'empty' | 'canned' | 'empty-body'

const DIRECTIVE = /\[\[sim:([a-z-]+)(?:=(\d+))?\]\]/g

/** Reads the `[[sim:…]]` directives of a prompt. */
export function readDirectives(text: string): Directives {
  const out: Directives = {}
  for (const [, name, value] of text.matchAll(DIRECTIVE)) {
    const n = value === undefined ? 0 : Number(value)
    if (name === 'long') out.long = n
    else if (name === 'error-after') out.errorAfter = n
    else if (name === 'truncate-after') out.truncateAfter = n
    else if (name === 'stall-after') out.stallAfter = n
    else if (name === 'slow') out.slow = n
    else if (name === 'refuse') out.refuse = true
    else if (name === 'no-pieces') out.noPieces = true
    else if (name === 'no-done') out.noDone = true
    else if (name === 'request-err') out.requestErr = true
    else if (name === 'filter-empty') out.filter = 'empty'
    else if (name === 'filter-canned') out.filter = 'canned'
    else if (name === 'filter-empty-body') out.filter = 'empty-body'
    else if (name === 'recall') out.recall = true
  }
  return out
}

export interface AnswerInput {
  model: string
  text: string
  /**
   * Earlier turns of the session the server fed back to the model (the last
   * `contextCount` of them): the model sees them, as a real one would.
   */
  history: ReadonlyArray<{ user: string; assistant: string }>
  online: boolean
  thinking?: string
  maxToken: number
  /** The files the model sees, in the order of the completion's `files` (none for a text-only model). */
  files: Array<{ type: string; size: number; sha256: string }>
  /** How the word filter answers a banned word (default `empty`). */
  wordFilter?: WordFilterReply
}

export interface Answer {
  text: string
  reasoning: string
  /** Set when the word filter answered instead of the model: how. */
  filtered?: WordFilterReply
}

/** Rough token count, as the simulator reports it: one token per four UTF-16 units. */
export function countTokens(text: string): number {
  return Math.ceil(text.length / 4)
}

/**
 * The simulated model's answer to a flattened prompt.
 *
 * @example
 * createAnswer({ model: 'gpt-4.1', text: 'User:\nHello', history: [], online: false, maxToken: 0, files: [] })
 * // { text: 'Echo from gpt-4.1: Hello | turns 1, history 0 | 你好🌏', reasoning: '' }
 */
export function createAnswer(input: AnswerInput): Answer {
  const directives = readDirectives(input.text)
  const { clean, said, turns } = _readPrompt(input.text)

  // The filter reads the whole prompt, directives aside, before any model sees it.
  if (BANNED_WORDS.some((word) => clean.includes(word))) {
    const filtered = directives.filter ?? input.wordFilter ?? 'empty'
    return { text: filtered === 'canned' ? FILTER_SENTENCE : '', reasoning: '', filtered }
  }
  if (directives.requestErr) return { text: 'Request Err!', reasoning: '' }

  let text: string
  if (directives.recall) {
    // What the model was fed besides this prompt: a leak between requests shows here whole.
    const fed = input.history.map((turn) => _readPrompt(turn.user).said)
    text = `Recall: ${fed.length > 0 ? fed.join(' || ') : 'nothing'}`
  } else if (directives.refuse) {
    text = "I don't have relevant knowledge about this question."
  } else {
    const extras = [
      `turns ${turns}`,
      `history ${input.history.length}`,
      input.online ? 'web search on' : '',
      input.thinking ? `thinking ${input.thinking}` : '',
      ...input.files.map(describeAttachment),
    ].filter(Boolean)
    // A model fed earlier turns can repeat from them, as a real one does when asked what was said before.
    const last = input.history.at(-1)
    if (last) extras.push(`remembers: ${_readPrompt(last.user).said.slice(0, 200)}`)
    text = createToolAnswer(input.text, said) ?? `Echo from ${input.model}: ${said} | ${extras.join(', ')} | 你好🌏`
    if (directives.long) text = _longText(directives.long)
  }
  if (input.maxToken > 0 && countTokens(text) > input.maxToken) text = text.slice(0, input.maxToken * 4)

  const reasoning =
    isReasoningModel(input.model) || input.thinking
      ? (reasoningWithCall(input.text) ?? `Thinking about ${JSON.stringify(said.slice(0, 40))} (${said.length} chars); 思考中…`)
      : ''
  return { text, reasoning }
}

/**
 * How a simulated multimodal model describes attached file `i` (0-based): it
 * cannot see, so it names what it got, in order, for tests to check.
 *
 * @example
 * describeAttachment({ type: 'image/png', size: 95, sha256: '3f2a…' }, 0) // 'image 1: image/png 95 bytes sha256 3f2a9c0d1e2b'
 */
export function describeAttachment(file: { type: string; size: number; sha256: string }, i: number): string {
  return `image ${i + 1}: ${file.type} ${file.size} bytes sha256 ${file.sha256.slice(0, 12)}`
}

/** The last user message of a flattened prompt, and how many user messages it holds. */
function _readPrompt(text: string): { clean: string; said: string; turns: number } {
  const clean = text.replace(TOOL_DIRECTIVE, '').replace(DIRECTIVE, '').trim()
  const blocks = clean.split(/\n\n(?=[A-Z][a-z]+:\n)/)
  const lastUser = [...blocks].reverse().find((b) => b.startsWith('User:\n'))
  const said = (lastUser ?? blocks.at(-1) ?? '').replace(/^[A-Z][a-z]+:\n/, '').trim()
  return { clean, said, turns: blocks.filter((b) => b.startsWith('User:\n')).length }
}

function _longText(bytes: number): string {
  const line = 'The quick brown fox jumps over the lazy dog. 敏捷的棕色狐狸跳过了懒狗。\n'
  const lineBytes = Buffer.byteLength(line)
  return line.repeat(Math.max(1, Math.ceil(bytes / lineBytes)))
}
