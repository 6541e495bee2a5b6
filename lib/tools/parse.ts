/**
 * Tolerant reading of what models write: the JSON inside a `<tool_call>`
 * block, and a JSON answer for structured output. Models are sloppy (code
 * fences, trailing commas, `"parameters"` for `"arguments"`, arguments as a
 * JSON string), so the JSON goes through `jsonrepair`, a maintained repairer,
 * rather than hand-written patterns.
 */
import { jsonrepair } from 'jsonrepair'

/** One call as the model wrote it, before it is checked against the tools offered. */
export interface ParsedCall {
  name: string
  arguments: Record<string, unknown>
}

export type Parsed<T> = { ok: true; value: T } | { ok: false; error: string }

// A whole code fence: ```json … ``` (the language tag is optional).
const _FENCED = /```[\w-]*[ \t]*\r?\n?([\s\S]*?)```/

function _isObject(value: unknown): value is Record<string, unknown> {
  return !!value && typeof value === 'object' && !Array.isArray(value)
}

/** Strips one code fence around `text`, also a fence left unclosed. */
function _unfence(text: string): string {
  const trimmed = text.trim()
  const fenced = _FENCED.exec(trimmed)
  if (fenced && trimmed.startsWith('```')) return fenced[1]!.trim()
  if (trimmed.startsWith('```')) return trimmed.replace(/^```[\w-]*[ \t]*\r?\n?/, '').replace(/```$/, '').trim()
  return trimmed.replace(/```$/, '').trim()
}

/**
 * Parses JSON the way a model may have written it: as is when it is valid,
 * else repaired. `repaired` says whether the text had to change.
 *
 * @example
 * parseLooseJson('{"city": "Suzhou",}') // { ok: true, value: { value: { city: 'Suzhou' }, repaired: true } }
 */
export function parseLooseJson(text: string): Parsed<{ value: unknown; repaired: boolean }> {
  try {
    return { ok: true, value: { value: JSON.parse(text) as unknown, repaired: false } }
  } catch {
    // Repaired below.
  }
  try {
    return { ok: true, value: { value: JSON.parse(jsonrepair(text)) as unknown, repaired: true } }
  } catch (error) {
    return { ok: false, error: `not valid JSON (${(error as Error).message.replace(/\s+/g, ' ').slice(0, 120)})` }
  }
}

function _readCall(item: unknown): Parsed<ParsedCall> {
  if (!_isObject(item)) return { ok: false, error: 'a <tool_call> block must hold a JSON object like {"name": "…", "arguments": {…}}' }
  // OpenAI-shaped calls nest it: {"function": {"name", "arguments"}}.
  const source = _isObject(item.function) ? item.function : item
  const name = source.name
  if (typeof name !== 'string' || name.trim() === '') return { ok: false, error: 'a <tool_call> block has no "name"' }
  let args = source.arguments ?? source.parameters ?? source.args ?? source.input
  if (typeof args === 'string') {
    if (args.trim() === '') args = {}
    else {
      const parsed = parseLooseJson(args)
      if (!parsed.ok) return { ok: false, error: `the arguments of '${name}' are ${parsed.error}` }
      args = parsed.value.value
    }
  }
  if (args === undefined || args === null) args = {}
  if (!_isObject(args)) return { ok: false, error: `the arguments of '${name}' must be a JSON object` }
  return { ok: true, value: { name: name.trim(), arguments: args } }
}

/**
 * Reads the inside of one `<tool_call>` block: one call, or an array of them.
 *
 * @example
 * parseToolCallBlock('```json\n{"name": "get_weather", "parameters": {"city": "Suzhou",}}\n```')
 * // { ok: true, value: [{ name: 'get_weather', arguments: { city: 'Suzhou' } }] }
 */
export function parseToolCallBlock(inner: string): Parsed<ParsedCall[]> {
  const text = _unfence(inner)
  if (text === '') return { ok: false, error: 'a <tool_call> block is empty' }
  const parsed = parseLooseJson(text)
  if (!parsed.ok) return { ok: false, error: `a <tool_call> block is ${parsed.error}` }
  const items = Array.isArray(parsed.value.value) ? parsed.value.value : [parsed.value.value]
  const calls: ParsedCall[] = []
  for (const item of items) {
    const call = _readCall(item)
    if (!call.ok) return call
    calls.push(call.value)
  }
  return { ok: true, value: calls }
}

/**
 * Finds the JSON in an answer meant to be JSON only: inside a code fence, or
 * from the first `{` (or `[`) to the last matching bracket, prose around it
 * dropped. `text` is the JSON text to send: the model's own when it was valid,
 * else the repaired value re-serialised.
 *
 * @example
 * extractJsonAnswer('Here you go:\n```json\n{"a": 1}\n```') // { ok: true, value: { text: '{"a": 1}', value: { a: 1 } } }
 */
export function extractJsonAnswer(answer: string): Parsed<{ text: string; value: unknown }> {
  const fenced = _FENCED.exec(answer)
  let candidate = fenced && /^\s*[[{]/.test(fenced[1]!) ? fenced[1]!.trim() : answer.trim()
  if (!/^[[{]/.test(candidate)) {
    const start = candidate.search(/[[{]/)
    if (start === -1) return { ok: false, error: 'the answer holds no JSON object' }
    candidate = candidate.slice(start)
  }
  const close = candidate.startsWith('[') ? ']' : '}'
  const end = candidate.lastIndexOf(close)
  // Without its closing bracket (a cut-off answer) leave the repair to jsonrepair.
  if (end !== -1) candidate = candidate.slice(0, end + 1)
  const parsed = parseLooseJson(candidate)
  if (!parsed.ok) return { ok: false, error: `the answer is ${parsed.error}` }
  const { value, repaired } = parsed.value
  return { ok: true, value: { text: repaired ? JSON.stringify(value) : candidate, value } }
}
