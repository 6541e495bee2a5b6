/**
 * How the simulated models play along with prompted tools and structured
 * output, deterministically: they read the `<tools>` block and the JSON-only
 * instruction the adapter writes (as a real model would), and answer with
 * the `<tool_call>` envelope or JSON when a `[[sim:…]]` directive asks, or
 * when the request is plainly for the weather and a weather tool is offered.
 * Sloppy and invalid answers come on demand, and a second, different answer
 * once the prompt carries a repair note, so that the repair is testable.
 *
 * Directives (in any message):
 * - `[[sim:call=NAME {json}]]`: call NAME with these arguments (several: parallel calls).
 * - `[[sim:repaired-call=NAME {json}]]`: the call to make instead once asked again after a rejection.
 * - `[[sim:call-style=S,…]]`: `fenced` (envelope in a code fence), `fenced-inside`, `trailing-comma`,
 *   `no-close` (last closing tag left out), `parameters` (for "arguments"), `string-args`,
 *   `broken` (not JSON at all), `prose` (a sentence before the calls and one after).
 * - `[[sim:json=TEXT]]`, `[[sim:repaired-json=TEXT]]`: the JSON answer (valid or not), first and after a rejection.
 * - `[[sim:json-style=fenced|prose]]`: wrap the JSON answer in a code fence, or in prose.
 * - `[[sim:reason-call]]`: the reasoning (of reasoning models) shows a `<tool_call>` envelope that must be ignored.
 */

// What the adapter writes (lib/tools/prompt.ts); the simulator reads the prompt as a model would.
const TOOLS_BLOCK = /<tools>\n([\s\S]*?)\n<\/tools>/
const JSON_ONLY = /Answer with one JSON value only/
const SCHEMA_BLOCK = /<json_schema>\n([\s\S]*?)\n<\/json_schema>/g
const REPAIR_NOTE = /Your previous answer was rejected/
const TOOL_RESPONSE = /<tool_response(?: id="([^"]*)")? name="([^"]*)">\n([\s\S]*?)\n<\/tool_response>/g

/** Directives whose value is free text (JSON): the lazy value ends at the last `]]` of a run. */
export const TOOL_DIRECTIVE = /\[\[sim:(call|repaired-call)=([\w.-]+)(?:\s+(\{[\s\S]*?\}))?\]\](?!\])|\[\[sim:(json|repaired-json)=([\s\S]*?)\]\](?!\])|\[\[sim:(call-style|json-style)=([a-z,-]+)\]\]|\[\[sim:reason-call\]\]/g

interface Offered {
  name: string
  parameters: Record<string, unknown>
}

interface ToolDirectives {
  calls: Array<{ name: string; args: string }>
  repairedCalls: Array<{ name: string; args: string }>
  json?: string
  repairedJson?: string
  callStyles: Set<string>
  jsonStyle?: string
  reasonCall: boolean
}

function _read(text: string): ToolDirectives {
  const out: ToolDirectives = { calls: [], repairedCalls: [], callStyles: new Set(), reasonCall: false }
  for (const m of text.matchAll(TOOL_DIRECTIVE)) {
    if (m[1] === 'call') out.calls.push({ name: m[2]!, args: m[3] ?? '{}' })
    else if (m[1] === 'repaired-call') out.repairedCalls.push({ name: m[2]!, args: m[3] ?? '{}' })
    else if (m[4] === 'json') out.json = m[5]
    else if (m[4] === 'repaired-json') out.repairedJson = m[5]
    else if (m[6] === 'call-style') for (const s of m[7]!.split(',')) out.callStyles.add(s)
    else if (m[6] === 'json-style') out.jsonStyle = m[7]
    else out.reasonCall = true
  }
  return out
}

function _offered(prompt: string): Offered[] {
  const block = TOOLS_BLOCK.exec(prompt)
  if (!block) return []
  return block[1]!.split('\n').flatMap((line) => {
    try {
      const fn = (JSON.parse(line) as { function?: { name?: string; parameters?: Record<string, unknown> } }).function
      return fn?.name ? [{ name: fn.name, parameters: fn.parameters ?? {} }] : []
    } catch {
      return []
    }
  })
}

/** A value that fits `schema`, for answers nobody scripted (`hint` fills strings). */
function _sample(schema: Record<string, unknown>, hint: string): unknown {
  if (Array.isArray(schema.enum)) return schema.enum[0]
  if ('const' in schema) return schema.const
  for (const key of ['anyOf', 'oneOf', 'allOf'] as const) {
    const first = (schema[key] as Array<Record<string, unknown>> | undefined)?.[0]
    if (first) return _sample(first, hint)
  }
  const type = Array.isArray(schema.type) ? schema.type.find((t) => t !== 'null') : schema.type
  if (type === 'object' || (type === undefined && schema.properties)) {
    const properties = (schema.properties ?? {}) as Record<string, Record<string, unknown>>
    return Object.fromEntries(Object.entries(properties).map(([key, sub]) => [key, _sample(sub, hint)]))
  }
  if (type === 'array') return [_sample((schema.items ?? {}) as Record<string, unknown>, hint)]
  if (type === 'integer' || type === 'number') return typeof schema.minimum === 'number' ? schema.minimum : 18
  if (type === 'boolean') return true
  if (type === 'null') return null
  if (schema.format === 'date-time') return '2026-10-08T12:00:00Z'
  if (schema.format === 'date') return '2026-10-08'
  if (schema.format === 'email') return 'someone@xjtlu.edu.cn'
  return hint
}

function _envelope(name: string, args: string, styles: Set<string>): string {
  let argsText = args
  if (styles.has('trailing-comma')) argsText = argsText.replace(/\}\s*$/, ',}').replace(/^\{,\}$/, '{}')
  if (styles.has('string-args')) argsText = JSON.stringify(args)
  const key = styles.has('parameters') ? 'parameters' : 'arguments'
  let json = `{"name": "${name}", "${key}": ${argsText}}`
  if (styles.has('trailing-comma')) json = json.replace(/\}$/, ',}')
  if (styles.has('broken')) json = `call ${name} with ${args}`
  if (styles.has('fenced-inside')) json = '```json\n' + json + '\n```'
  return `<tool_call>\n${json}\n</tool_call>`
}

function _callAnswer(calls: Array<{ name: string; args: string }>, styles: Set<string>): string {
  let body = calls.map((c) => _envelope(c.name, c.args, styles)).join('\n')
  if (styles.has('no-close')) body = body.replace(/\n<\/tool_call>$/, '')
  if (styles.has('fenced')) body = '```xml\n' + body + '\n```'
  if (styles.has('prose')) body = `Let me look that up 🌏.\n${body}${styles.has('no-close') ? '' : '\nThis text after the call is not part of the reply.'}`
  return body
}

function _jsonAnswer(json: string, style: string | undefined): string {
  if (style === 'fenced') return '```json\n' + json + '\n```'
  if (style === 'prose') return `Here is the JSON you asked for:\n${json}\nI hope this helps.`
  return json
}

/**
 * The answer when tools or a JSON format are in play; `undefined` leaves
 * the plain answer (echo) to createAnswer.
 *
 * @example
 * createToolAnswer('System:\n# Tools …<tools>…</tools>…\n\nUser:\nWeather? [[sim:call=get_weather {"city":"Suzhou"}]]', 'Weather?')
 */
export function createToolAnswer(prompt: string, said: string): string | undefined {
  const directives = _read(prompt)
  const offered = _offered(prompt)
  const repairing = REPAIR_NOTE.test(prompt)
  const lastUser = prompt.lastIndexOf('\n\nUser:\n')
  const after = prompt.slice(Math.max(0, lastUser))

  // Tool results after the last user message: answer from them, quoting each.
  const results = [...after.matchAll(TOOL_RESPONSE)]
  if (offered.length > 0 || results.length > 0) {
    if (results.length > 0) return `From the tools: ${results.map((r) => `${r[2]} → ${r[3]!.trim()}`).join('; ')} | 你好🌏`
    const calls = repairing && directives.repairedCalls.length > 0 ? directives.repairedCalls : directives.calls
    if (calls.length > 0 && offered.length > 0) return _callAnswer(calls, repairing && directives.repairedCalls.length > 0 ? new Set() : directives.callStyles)
    const weather = offered.find((t) => /weather/i.test(t.name))
    if (weather && /weather/i.test(said)) {
      const city = /\bin ([A-Z][\w-]*)/.exec(said)?.[1] ?? 'Suzhou'
      return _callAnswer([{ name: weather.name, args: JSON.stringify(_sample(weather.parameters, city)) }], new Set())
    }
  }
  if (JSON_ONLY.test(prompt)) {
    const scripted = repairing && directives.repairedJson !== undefined ? directives.repairedJson : directives.json
    if (scripted !== undefined) return _jsonAnswer(scripted, repairing && directives.repairedJson !== undefined ? undefined : directives.jsonStyle)
    const schema = [...prompt.matchAll(SCHEMA_BLOCK)].at(-1)?.[1]
    const value = schema ? _sample(JSON.parse(schema) as Record<string, unknown>, said.slice(0, 60)) : { answer: said }
    return _jsonAnswer(JSON.stringify(value), directives.jsonStyle)
  }
  return undefined
}

/** Reasoning that shows a tool call envelope (`[[sim:reason-call]]`): a client must never see it as a call. */
export function reasoningWithCall(prompt: string): string | undefined {
  return _read(prompt).reasonCall ? 'I could write <tool_call>\n{"name": "get_weather", "arguments": {"city": "Nowhere"}}\n</tool_call> but I will not.' : undefined
}
