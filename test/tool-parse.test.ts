/**
 * The pure pieces of prompted tool calls, in process: the streaming splitter
 * (prose passes, the envelope never does), the tolerant parser, the schema
 * checks, the shaper's problems, and the conversation checks.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import type { ChatRequest } from '../lib/neutral.ts'
import { XipuError } from '../lib/errors.ts'
import { checkToolCall } from '../lib/tools/calls.ts'
import { checkConversation } from '../lib/tools/history.ts'
import { extractJsonAnswer, parseToolCallBlock } from '../lib/tools/parse.ts'
import { buildPrompt } from '../lib/tools/prompt.ts'
import { createAnswerShaper } from '../lib/tools/shaper.ts'
import { createToolCallSplitter, splitToolCalls } from '../lib/tools/splitter.ts'

const weather = { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' }, unit: { type: 'string', enum: ['c', 'f'] } }, required: ['city'], additionalProperties: false } }

/** Feeds `text` in pieces of `size` and collects what the splitter let out. */
function splitInPieces(text: string, size: number) {
  const splitter = createToolCallSplitter()
  const prose: string[] = []
  const blocks: string[] = []
  for (let i = 0; i < text.length; i += size) {
    const piece = splitter.push(text.slice(i, i + size))
    if (piece.prose) prose.push(piece.prose)
    blocks.push(...piece.blocks)
  }
  const rest = splitter.end()
  if (rest.prose) prose.push(rest.prose)
  blocks.push(...rest.blocks)
  return { prose: prose.join(''), pieces: prose, blocks }
}

describe('the streaming splitter', () => {
  const answer = 'Let me check.\n```xml\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Suzhou"}}\n</tool_call>\n<tool_call>{"name":"get_weather","arguments":{"city":"Xi\'an"}}</tool_call>\n```\nAfter.'
  test('lets the prose out and never any part of the envelope, whatever the cuts', () => {
    for (const size of [1, 2, 3, 5, 7, 11, 64, answer.length]) {
      const { prose, pieces, blocks } = splitInPieces(answer, size)
      assert.equal(prose, 'Let me check.', `size ${size}`)
      for (const piece of pieces) assert.doesNotMatch(piece, /[<`]/, `size ${size}: ${JSON.stringify(piece)}`)
      assert.equal(blocks.length, 2, `size ${size}`)
      assert.match(blocks[0]!, /"Suzhou"/)
    }
  })

  test('holds back only a tail that could begin the tag', () => {
    const splitter = createToolCallSplitter()
    assert.equal(splitter.push('Hello <b>world</b> and <to').prose, 'Hello <b>world</b> and')
    assert.equal(splitter.push('day').prose, ' <today')
    assert.equal(splitter.end().prose, '')
  })

  test('a plain answer passes whole, code fences included', () => {
    const text = 'Use this:\n```python\nprint(1)\n```\nDone.'
    assert.deepEqual(splitInPieces(text, 3).prose, text)
    assert.deepEqual(splitToolCalls(text), { prose: text, blocks: [] })
  })

  test('a last block without its closing tag, and a block opened before the last one closed', () => {
    assert.deepEqual(splitToolCalls('<tool_call>\n{"name":"a"}\n<tool_call>{"name":"b"}').blocks, ['\n{"name":"a"}\n', '{"name":"b"}'])
  })
})

describe('parseToolCallBlock', () => {
  const ok = (inner: string) => {
    const parsed = parseToolCallBlock(inner)
    assert.ok(parsed.ok, JSON.stringify(parsed))
    return parsed.value
  }
  test('reads the sloppy forms models write', () => {
    const expected = [{ name: 'get_weather', arguments: { city: 'Suzhou' } }]
    assert.deepEqual(ok('{"name": "get_weather", "arguments": {"city": "Suzhou"}}'), expected)
    assert.deepEqual(ok('```json\n{"name": "get_weather", "arguments": {"city": "Suzhou"}}\n```'), expected)
    assert.deepEqual(ok('{"name": "get_weather", "arguments": {"city": "Suzhou",},}'), expected)
    assert.deepEqual(ok('{"name": "get_weather", "parameters": {"city": "Suzhou"}}'), expected)
    assert.deepEqual(ok('{"name": "get_weather", "arguments": "{\\"city\\": \\"Suzhou\\"}"}'), expected)
    assert.deepEqual(ok('{"function": {"name": "get_weather", "arguments": "{\\"city\\":\\"Suzhou\\"}"}}'), expected)
    assert.deepEqual(ok("{'name': 'get_weather', 'arguments': {'city': 'Suzhou'}}"), expected)
    assert.deepEqual(ok('{"name": "noop"}'), [{ name: 'noop', arguments: {} }])
    assert.equal(ok('[{"name":"a","arguments":{}},{"name":"b","arguments":{}}]').length, 2)
  })
  test('says what is wrong with what it cannot read', () => {
    for (const [inner, why] of [
      ['get_weather(city="Suzhou")', /not valid JSON/],
      ['', /empty/],
      ['{"arguments": {}}', /no "name"/],
      ['{"name": "f", "arguments": [1]}', /must be a JSON object/],
      ['"just a string"', /JSON object like/],
    ] as const) {
      const parsed = parseToolCallBlock(inner)
      assert.equal(parsed.ok, false, inner)
      assert.match((parsed as { error: string }).error, why)
    }
  })
})

describe('checkToolCall', () => {
  test('the name must be offered and the arguments must fit the schema', () => {
    assert.equal(checkToolCall({ name: 'get_weather', arguments: { city: 'Suzhou' } }, [weather]), undefined)
    assert.match(checkToolCall({ name: 'get_time', arguments: {} }, [weather])!, /'get_time' is not one of the functions offered \(get_weather\)/)
    assert.match(checkToolCall({ name: 'get_weather', arguments: { city: 5 } }, [weather])!, /arguments\/city must be string/)
    assert.match(checkToolCall({ name: 'get_weather', arguments: {} }, [weather])!, /must have required property 'city'/)
    assert.match(checkToolCall({ name: 'get_weather', arguments: { city: 'a', unit: 'k' } }, [weather])!, /unit must be equal to one of the allowed values/)
    assert.match(checkToolCall({ name: 'get_weather', arguments: { city: 'a', extra: 1 } }, [weather])!, /'extra'/)
  })
  test('formats are checked too', () => {
    const tool = { name: 'mail', parameters: { type: 'object', properties: { to: { type: 'string', format: 'email' } } } }
    assert.match(checkToolCall({ name: 'mail', arguments: { to: 'nobody' } }, [tool])!, /must match format "email"/)
  })
})

describe('extractJsonAnswer', () => {
  test('strips fences and prose, keeps the model\'s own text when it is valid', () => {
    assert.deepEqual(extractJsonAnswer('{"a": 1}'), { ok: true, value: { text: '{"a": 1}', value: { a: 1 } } })
    assert.deepEqual(extractJsonAnswer('```json\n{"a": 1}\n```'), { ok: true, value: { text: '{"a": 1}', value: { a: 1 } } })
    assert.deepEqual(extractJsonAnswer('Here it is:\n{"a": {"b": 2}}\nBye.'), { ok: true, value: { text: '{"a": {"b": 2}}', value: { a: { b: 2 } } } })
    assert.deepEqual(extractJsonAnswer('{"a": 1,}'), { ok: true, value: { text: '{"a":1}', value: { a: 1 } } })
  })
  test('an answer with no JSON is a problem', () => {
    assert.equal(extractJsonAnswer('Sorry, I cannot.').ok, false)
  })
})

describe('the shaper', () => {
  const request = (extra: Partial<ChatRequest>) => ({ tools: [weather], ...extra })
  test('required without a call, an unknown tool, broken arguments: problems, nothing relayed', () => {
    const required = createAnswerShaper(request({ toolChoice: 'required' }))
    assert.deepEqual(required.push('It is sunny.'), [], 'prose is held when a call is required')
    assert.match(required.end().problem!, /tool_choice "required"/)
    const unknown = createAnswerShaper(request({}))
    assert.deepEqual(unknown.push('<tool_call>{"name":"nope","arguments":{}}</tool_call>'), [])
    assert.match(unknown.end().problem!, /'nope' is not one of the functions offered/)
  })
  test('parallel_tool_calls false keeps the first call only', () => {
    const shaper = createAnswerShaper(request({ parallelToolCalls: false }))
    const deltas = shaper.push('<tool_call>{"name":"get_weather","arguments":{"city":"A"}}</tool_call><tool_call>{"name":"get_weather","arguments":{"city":"B"}}</tool_call>')
    const end = shaper.end()
    assert.equal(deltas.filter((d) => d.toolCall).length, 1)
    assert.equal(end.dropped, 1)
    assert.equal(end.problem, undefined)
  })
  test('a repair does not emit a call twice, and numbers the new ones after the old', () => {
    const first = createAnswerShaper(request({}))
    first.push('<tool_call>{"name":"get_weather","arguments":{"city":"A"}}</tool_call><tool_call>{"name":"get_weather","arguments":{"city":5}}</tool_call>')
    const broken = first.end()
    assert.equal(broken.calls.length, 1)
    assert.ok(broken.problem)
    const repair = createAnswerShaper(request({}), { relayProse: false, emitted: broken.calls })
    const deltas = repair.push('Again.<tool_call>{"name":"get_weather","arguments":{"city":"A"}}</tool_call><tool_call>{"name":"get_weather","arguments":{"city":"B"}}</tool_call>')
    assert.deepEqual(deltas.map((d) => d.toolCall && [d.toolCall.index, d.toolCall.arguments]), [[1, '{"city":"B"}']])
  })
  test('a JSON answer is checked against the schema', () => {
    const format = { type: 'json_schema' as const, name: 'w', schema: weather.parameters }
    const good = createAnswerShaper({ responseFormat: format })
    good.push('```json\n{"city": "Suzhou"}\n```')
    assert.deepEqual(good.end().deltas, [{ content: '{"city": "Suzhou"}' }])
    const bad = createAnswerShaper({ responseFormat: format })
    bad.push('{"town": "Suzhou"}')
    assert.match(bad.end().problem!, /required property 'city'/)
  })
})

describe('conversation checks', () => {
  const call = { id: 'call_1', name: 'get_weather', arguments: '{"city":"Suzhou"}' }
  const fails = (messages: Parameters<typeof checkConversation>[0], param: string, why: RegExp) =>
    assert.throws(() => checkConversation(messages), (e: unknown) => e instanceof XipuError && e.code === 'E_BAD_REQUEST' && e.param === param && why.test(e.message))

  test('a call without its result before the next user turn, or at the end', () => {
    fails([{ role: 'user', text: 'q' }, { role: 'assistant', text: '', toolCalls: [call] }, { role: 'user', text: 'and?' }], 'messages[2]', /'call_1' \(get_weather\).*no tool message/)
    fails([{ role: 'user', text: 'q' }, { role: 'assistant', text: '', toolCalls: [call] }], 'messages[1]', /no tool message/)
  })
  test('a result for no call, ids used twice, arguments that are not an object', () => {
    fails([{ role: 'user', text: 'q' }, { role: 'tool', text: 'x', toolCallId: 'call_9' }], 'messages[1]', /'call_9'/)
    fails([{ role: 'assistant', text: '', toolCalls: [call, call] }], 'messages[0]', /used twice/)
    fails([{ role: 'assistant', text: '', toolCalls: [{ ...call, arguments: '[1,2]' }] }, { role: 'tool', text: 'x', toolCallId: 'call_1' }], 'messages[0]', /must be a JSON object/)
  })
  test('the prompt offers the tools, rules by tool_choice; none leaves them out', () => {
    const messages = [{ role: 'user' as const, text: 'Weather?' }]
    assert.match(buildPrompt(messages, { tools: [weather] }), /^System:\n# Tools[\s\S]*<tools>\n\{"type":"function","function":\{"name":"get_weather"[\s\S]*<\/tools>[\s\S]*User:\nWeather\?$/)
    assert.equal(buildPrompt(messages, { tools: [weather], toolChoice: 'none' }), 'User:\nWeather?')
    assert.match(buildPrompt(messages, { tools: [weather], toolChoice: 'required' }), /must call at least one function/)
    assert.match(buildPrompt(messages, { tools: [weather], toolChoice: { name: 'get_weather' } }), /must call the function "get_weather"/)
    assert.match(buildPrompt(messages, { tools: [weather], parallelToolCalls: false }), /at most one function/)
    assert.match(buildPrompt(messages, { responseFormat: { type: 'json_object' } }), /User:\nWeather\?\n\nSystem:\nAnswer with one JSON value only/)
  })
})
