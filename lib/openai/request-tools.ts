/**
 * The tool and structured-output parts of a chat completions request, read
 * into the neutral terms of lib/neutral.ts: `tools` (and the legacy
 * `functions`), `tool_choice` (and `function_call`), `parallel_tool_calls`,
 * `response_format`, and the messages that carry calls and results. Schemas
 * are compiled here, so a broken one is a 400 before anything is sent.
 */
import type { ChatMessage, ResponseFormat, ToolChoice, ToolSpec } from '../neutral.ts'
import { XipuError } from '../errors.ts'
import { compileSchema } from '../tools/schema.ts'

// OpenAI's own rule for function names.
const NAME = /^[a-zA-Z0-9_-]{1,64}$/
// A function without parameters takes an empty object.
const NO_PARAMETERS = { type: 'object', properties: {} }

type Body = Record<string, unknown>

function _bad(message: string, param: string): XipuError {
  return new XipuError('E_BAD_REQUEST', message, { param })
}

function _isObject(value: unknown): value is Record<string, unknown> {
  return !!value && typeof value === 'object' && !Array.isArray(value)
}

function _schema(value: unknown, param: string): Record<string, unknown> {
  if (value === undefined || value === null) return NO_PARAMETERS
  if (!_isObject(value)) throw _bad(`Invalid value for '${param}': must be a JSON Schema object.`, param)
  try {
    compileSchema(value)
  } catch (error) {
    throw _bad(`Invalid value for '${param}': not a usable JSON Schema (${(error as Error).message}).`, param)
  }
  return value
}

function _function(value: unknown, param: string): ToolSpec {
  if (!_isObject(value)) throw _bad(`Invalid value for '${param}': must be an object with "name" and "parameters".`, param)
  if (typeof value.name !== 'string' || !NAME.test(value.name)) {
    throw _bad(`Invalid value for '${param}.name': must be 1 to 64 letters, digits, underscores or dashes.`, `${param}.name`)
  }
  if (value.description != null && typeof value.description !== 'string') throw _bad(`Invalid value for '${param}.description': must be a string.`, `${param}.description`)
  if (value.strict != null && typeof value.strict !== 'boolean') throw _bad(`Invalid value for '${param}.strict': must be a boolean.`, `${param}.strict`)
  return {
    name: value.name,
    ...(value.description ? { description: value.description as string } : {}),
    parameters: _schema(value.parameters, `${param}.parameters`),
    ...(value.strict != null ? { strict: value.strict as boolean } : {}),
  }
}

/** `tools` or the legacy `functions`, as tool specs (empty when neither). */
function _tools(body: Body): ToolSpec[] {
  const tools = body.tools ?? undefined
  const functions = body.functions ?? undefined
  if (tools !== undefined && functions !== undefined && (tools as unknown[]).length > 0 && (functions as unknown[]).length > 0) {
    throw _bad(`Send either 'tools' or the legacy 'functions', not both.`, 'functions')
  }
  const specs: ToolSpec[] = []
  if (Array.isArray(tools)) {
    tools.forEach((tool, i) => {
      const param = `tools[${i}]`
      if (!_isObject(tool)) throw _bad(`Invalid value for '${param}': must be an object like {"type":"function","function":{…}}.`, param)
      if (tool.type !== 'function') {
        throw _bad(`Tools of type '${String(tool.type)}' are not supported (${param}): only 'function' tools are. For web search use the model suffix ':online' or 'web_search_options'.`, `${param}.type`)
      }
      specs.push(_function(tool.function, `${param}.function`))
    })
  } else if (Array.isArray(functions)) {
    functions.forEach((fn, i) => specs.push(_function(fn, `functions[${i}]`)))
  }
  const seen = new Set<string>()
  specs.forEach((spec, i) => {
    if (seen.has(spec.name)) throw _bad(`The function name '${spec.name}' is offered twice.`, Array.isArray(tools) ? `tools[${i}].function.name` : `functions[${i}].name`)
    seen.add(spec.name)
  })
  return specs
}

function _named(name: unknown, tools: ToolSpec[], param: string): { name: string } {
  if (typeof name !== 'string' || !tools.some((t) => t.name === name)) {
    const offered = tools.length > 0 ? `one of ${tools.map((t) => `'${t.name}'`).join(', ')}` : 'a function given in tools'
    throw _bad(`Invalid value for '${param}': must name ${offered}.`, param)
  }
  return { name }
}

/** `tool_choice` (or the legacy `function_call`), and the tools it leaves in play. */
function _choice(body: Body, tools: ToolSpec[]): { choice: ToolChoice; tools: ToolSpec[] } {
  const legacy = body.tool_choice === undefined || body.tool_choice === null
  const value = legacy ? body.function_call : body.tool_choice
  const param = legacy && body.function_call != null ? 'function_call' : 'tool_choice'
  if (value === undefined || value === null || value === 'auto') return { choice: 'auto', tools }
  if (value === 'none') return { choice: 'none', tools }
  if (value === 'required' && !legacy) {
    if (tools.length === 0) throw _bad(`'tool_choice' is 'required' but no 'tools' are given.`, param)
    return { choice: 'required', tools }
  }
  if (_isObject(value)) {
    if (legacy) return { choice: _named(value.name, tools, 'function_call.name'), tools }
    if (value.type === 'function' && _isObject(value.function)) return { choice: _named(value.function.name, tools, 'tool_choice.function.name'), tools }
    if (value.type === 'allowed_tools' && _isObject(value.allowed_tools)) {
      const allowed = value.allowed_tools
      const names = Array.isArray(allowed.tools) ? allowed.tools.map((t, i) => _named(_isObject(t) && _isObject(t.function) ? t.function.name : undefined, tools, `tool_choice.allowed_tools.tools[${i}]`).name) : []
      const mode = allowed.mode ?? 'auto'
      if (mode !== 'auto' && mode !== 'required') throw _bad(`Invalid value for 'tool_choice.allowed_tools.mode': must be 'auto' or 'required'.`, 'tool_choice.allowed_tools.mode')
      const kept = tools.filter((t) => names.includes(t.name))
      if (kept.length === 0) throw _bad(`'tool_choice.allowed_tools.tools' must name at least one function.`, 'tool_choice.allowed_tools.tools')
      return { choice: mode, tools: kept }
    }
  }
  const forms = legacy ? `'auto', 'none' or {"name": "…"}` : `'auto', 'none', 'required', {"type":"function","function":{"name":"…"}} or {"type":"allowed_tools",…}`
  throw _bad(`Invalid value for '${param}': must be ${forms}.`, param)
}

function _responseFormat(value: unknown): ResponseFormat | undefined {
  if (value === undefined || value === null) return undefined
  if (!_isObject(value)) throw _bad(`Invalid value for 'response_format': must be an object like {"type":"json_object"}.`, 'response_format')
  if (value.type === 'text') return undefined
  if (value.type === 'json_object') return { type: 'json_object' }
  if (value.type === 'json_schema') {
    const spec = value.json_schema
    if (!_isObject(spec)) throw _bad(`'response_format' of type 'json_schema' needs 'json_schema': {"name", "schema"}.`, 'response_format.json_schema')
    if (spec.name != null && (typeof spec.name !== 'string' || !NAME.test(spec.name))) {
      throw _bad(`Invalid value for 'response_format.json_schema.name': must be 1 to 64 letters, digits, underscores or dashes.`, 'response_format.json_schema.name')
    }
    return {
      type: 'json_schema',
      name: (spec.name as string | undefined) ?? 'response',
      ...(typeof spec.description === 'string' ? { description: spec.description } : {}),
      // Without a schema any JSON value is accepted, as OpenAI does.
      schema: spec.schema == null ? {} : _schema(spec.schema, 'response_format.json_schema.schema'),
      ...(typeof spec.strict === 'boolean' ? { strict: spec.strict } : {}),
    }
  }
  throw _bad(`'response_format' of type '${String(value.type)}' is not supported: use 'text', 'json_object' or 'json_schema'.`, 'response_format.type')
}

export interface ToolOptions {
  tools?: ToolSpec[]
  toolChoice?: ToolChoice
  parallelToolCalls?: boolean
  responseFormat?: ResponseFormat
  /** The request used the legacy `functions` (the reply then uses `function_call`). */
  legacyFunctions: boolean
}

/**
 * Reads the tool and format fields of a request body (already checked for
 * basic types by the request schema). Throws `E_BAD_REQUEST` naming the field.
 *
 * @example
 * readToolOptions({ tools: [{ type: 'function', function: { name: 'f' } }], tool_choice: 'required' })
 */
export function readToolOptions(body: Body): ToolOptions {
  const all = _tools(body)
  const { choice, tools } = _choice(body, all)
  const parallel = body.parallel_tool_calls
  if (parallel != null && typeof parallel !== 'boolean') throw _bad(`Invalid value for 'parallel_tool_calls': must be a boolean.`, 'parallel_tool_calls')
  const format = _responseFormat(body.response_format)
  const legacyFunctions = !Array.isArray(body.tools) && Array.isArray(body.functions) && body.functions.length > 0
  return {
    ...(tools.length > 0 ? { tools, toolChoice: choice } : {}),
    // The legacy functions API had no parallel calls.
    ...(parallel === false || legacyFunctions ? { parallelToolCalls: false } : {}),
    ...(format ? { responseFormat: format } : {}),
    legacyFunctions,
  }
}

function _text(content: unknown): string {
  if (typeof content === 'string') return content
  if (!Array.isArray(content)) return ''
  return content
    .filter((p): p is { type: 'text'; text: string } => _isObject(p) && p.type === 'text' && typeof p.text === 'string')
    .map((p) => p.text)
    .join('\n')
}

function _toolCalls(message: Record<string, unknown>, index: number): ChatMessage['toolCalls'] {
  const param = `messages[${index}]`
  if (Array.isArray(message.tool_calls)) {
    return message.tool_calls.map((call, j) => {
      const at = `${param}.tool_calls[${j}]`
      if (!_isObject(call) || typeof call.id !== 'string' || call.id === '' || !_isObject(call.function) || typeof call.function.name !== 'string') {
        throw _bad(`Invalid value for '${at}': must be {"id": "…", "type": "function", "function": {"name": "…", "arguments": "{…}"}}.`, at)
      }
      return { id: call.id, name: call.function.name, arguments: call.function.arguments }
    })
  }
  if (_isObject(message.function_call)) {
    const call = message.function_call
    if (typeof call.name !== 'string') throw _bad(`Invalid value for '${param}.function_call': must be {"name": "…", "arguments": "{…}"}.`, `${param}.function_call`)
    // Legacy calls have no id; results name the function instead.
    return [{ id: `legacy_${index}`, name: call.name, arguments: call.arguments }]
  }
  return undefined
}

/**
 * The messages of a chat completions request, in neutral terms.
 *
 * @example
 * toChatMessages([{ role: 'tool', tool_call_id: 'call_1', content: '18°C' }])
 */
export function toChatMessages(messages: Array<Record<string, unknown>>): ChatMessage[] {
  return messages.map((m, index) => {
    const source = `messages[${index}]`
    const text = _text(m.content)
    switch (m.role) {
      case 'system':
      case 'developer':
        return { role: 'system', text, source }
      case 'assistant':
        return { role: 'assistant', text, toolCalls: _toolCalls(m, index), source }
      case 'tool':
        if (typeof m.tool_call_id !== 'string' || m.tool_call_id === '') throw _bad(`'${source}.tool_call_id' is required: name the call this result answers.`, `${source}.tool_call_id`)
        return { role: 'tool', text, toolCallId: m.tool_call_id, source }
      case 'function':
        if (typeof m.name !== 'string') throw _bad(`'${source}.name' is required: name the function this result answers.`, `${source}.name`)
        return { role: 'tool', text, toolName: m.name, source }
      default:
        return { role: 'user', text, source }
    }
  })
}
