/**
 * The pure pieces of the OpenAI mapping, in process: prompt flattening,
 * request validation and mapping, the stop cutter, the platform's events, the
 * answer mapper and the error mapping.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { XipuError } from '../lib/errors.ts'
import { toOpenAIError } from '../lib/openai/errors.ts'
import type { ChatRequest } from '../lib/neutral.ts'
import { flattenMessages, parseChatRequest } from '../lib/openai/request.ts'
import { createAnswerMapper, createStopCutter } from '../lib/chat/answer.ts'
import { parseXipuEvent, type XipuEvent } from '../lib/xipu/events.ts'

describe('flattenMessages', () => {
  test('labels each role and puts a blank line between messages, in order', () => {
    const text = flattenMessages([
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'Hi' },
      { role: 'assistant', content: 'Hello!' },
      { role: 'developer', content: 'Dev note' },
      { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'f', arguments: '{"a":1}' } }] },
      { role: 'tool', tool_call_id: 'call_1', content: '{"ok":true}' },
      { role: 'assistant', content: 'Next.', function_call: { name: 'g', arguments: '{}' } },
      { role: 'function', name: 'g', content: 'fn result' },
      { role: 'user', content: 'Bye' },
    ])
    assert.equal(
      text,
      'System:\nBe brief.\n\nUser:\nHi\n\nAssistant:\nHello!\n\nSystem:\nDev note\n\n' +
        'Assistant:\n<tool_call>\n{"name":"f","arguments":{"a":1}}\n</tool_call>\n\nTool:\n<tool_response id="call_1" name="f">\n{"ok":true}\n</tool_response>\n\n' +
        'Assistant:\nNext.\n<tool_call>\n{"name":"g","arguments":{}}\n</tool_call>\n\nTool:\n<tool_response id="legacy_6" name="g">\nfn result\n</tool_response>\n\nUser:\nBye',
    )
  })

  test('joins text parts with newlines and ignores other parts', () => {
    const text = flattenMessages([{ role: 'user', content: [{ type: 'text', text: 'one' }, { type: 'image_url', image_url: 'x' }, { type: 'text', text: 'two' }] }])
    assert.equal(text, 'User:\none\ntwo')
  })

  test('leaves out messages without text (null content, empty strings, tool calls only)', () => {
    const text = flattenMessages([
      { role: 'user', content: 'q' },
      { role: 'assistant', content: null },
      { role: 'assistant' },
      { role: 'user', content: '   ' },
      { role: 'user', content: 'again' },
    ])
    assert.equal(text, 'User:\nq\n\nUser:\nagain')
  })

  test('keeps the text itself exactly, multibyte and newlines included', () => {
    const said = '  第一行\n\n🌏 second line \u0301 '
    assert.equal(flattenMessages([{ role: 'user', content: said }]), `User:\n${said}`)
  })
})

describe('parseChatRequest', () => {
  const base = { model: 'gpt-4.1', messages: [{ role: 'user', content: 'hi' }] }

  test('fills the defaults', () => {
    const r = parseChatRequest(base)
    assert.deepEqual(
      { ...r },
      {
        model: 'gpt-4.1',
        upstreamModel: 'gpt-4.1',
        stream: false,
        includeUsage: false,
        temperature: 0.7,
        maxTokens: 0,
        presencePenalty: 0,
        frequencyPenalty: 0,
        stop: [],
        online: false,
        thinking: undefined,
        prompt: 'User:\nhi',
        messageCount: 1,
        legacyFunctions: false,
      } satisfies ChatRequest & { legacyFunctions: boolean },
    )
  })

  test('maps the OpenAI fields to the platform\'s', () => {
    const r = parseChatRequest({
      ...base,
      model: 'gpt-5.4:online',
      stream: true,
      stream_options: { include_usage: true },
      temperature: 0,
      max_tokens: 100,
      max_completion_tokens: 50,
      presence_penalty: 1,
      frequency_penalty: -1,
      stop: ['END', '', 'STOP'],
      reasoning_effort: 'minimal',
    })
    assert.equal(r.model, 'gpt-5.4:online')
    assert.equal(r.upstreamModel, 'gpt-5.4')
    assert.equal(r.online, true)
    assert.equal(r.stream, true)
    assert.equal(r.includeUsage, true)
    assert.equal(r.temperature, 0, 'a zero temperature is kept, not defaulted')
    assert.equal(r.maxTokens, 50, 'max_completion_tokens wins over max_tokens')
    assert.equal(r.presencePenalty, 1)
    assert.equal(r.frequencyPenalty, -1)
    assert.deepEqual(r.stop, ['END', 'STOP'], 'empty stop strings are dropped')
    assert.equal(r.thinking, 'minimal')
  })

  test('web_search_options turns web search on; a single stop string becomes a list', () => {
    const r = parseChatRequest({ ...base, web_search_options: { search_context_size: 'low' }, stop: 'X' })
    assert.equal(r.online, true)
    assert.equal(r.upstreamModel, 'gpt-4.1')
    assert.deepEqual(r.stop, ['X'])
  })

  test('accepts null for optional fields, and unknown fields', () => {
    const r = parseChatRequest({ ...base, temperature: null, stop: null, user: 'someone', seed: 4, metadata: { a: 1 }, n: 1, tools: [], response_format: { type: 'text' } })
    assert.equal(r.temperature, 0.7)
    assert.deepEqual(r.stop, [])
  })

  test('refuses bad input with E_BAD_REQUEST naming the parameter', () => {
    const cases: Array<[unknown, string]> = [
      [null, 'body'],
      [[], 'body'],
      [{ messages: base.messages }, 'model'],
      [{ model: 'x', messages: [] }, 'messages'],
      [{ model: 'x', messages: [{ role: 'user', content: 5 }] }, 'messages[0].content'],
      [{ ...base, top_p: 2 }, 'top_p'],
      [{ ...base, n: 3 }, 'n'],
      [{ ...base, tools: [{ type: 'web_search' }] }, 'tools[0].type'],
      [{ ...base, functions: [{ name: 'bad name' }] }, 'functions[0].name'],
      [{ ...base, model: ':online' }, 'model'],
    ]
    for (const [body, param] of cases) {
      assert.throws(
        () => parseChatRequest(body),
        (error: unknown) => error instanceof XipuError && error.code === 'E_BAD_REQUEST' && error.param === param,
        `param ${param} for ${JSON.stringify(body)}`,
      )
    }
  })
})

describe('createStopCutter', () => {
  /** Pushes the pieces, then flushes unless stopped; returns what was relayed. */
  function run(stops: string[], pieces: string[]): { text: string; stopped: boolean; outputs: string[] } {
    const cutter = createStopCutter(stops)
    const outputs: string[] = []
    for (const piece of pieces) {
      const out = cutter.push(piece)
      outputs.push(out.text)
      if (out.stopped) return { text: outputs.join(''), stopped: true, outputs }
    }
    outputs.push(cutter.flush())
    return { text: outputs.join(''), stopped: false, outputs }
  }

  test('without stops, relays every piece at once', () => {
    assert.deepEqual(run([], ['a', 'b', 'c']).outputs, ['a', 'b', 'c', ''])
  })

  test('cuts where the stop sequence starts, even split across pieces', () => {
    const result = run(['STOP'], ['hello S', 'T', 'OP and more'])
    assert.equal(result.text, 'hello ')
    assert.equal(result.stopped, true)
    assert.ok(result.outputs.every((o) => !o.includes('S')), 'no part of the stop sequence was relayed early')
  })

  test('the earliest of several stops wins', () => {
    assert.equal(run(['later', 'ear'], ['the earliest, later']).text, 'the ')
  })

  test('a partial match that does not complete is relayed in the end', () => {
    const result = run(['STOP'], ['abc ST', 'O', 'X ST'])
    assert.equal(result.text, 'abc STOX ST')
    assert.equal(result.stopped, false)
  })

  test('every character comes out exactly once, whatever the cuts', () => {
    const text = 'Echo: 你好🌏 and 👩‍👩‍👧 with STO and ST but never the word'
    for (let size = 1; size <= 7; size++) {
      const pieces: string[] = []
      for (let i = 0; i < text.length; i += size) pieces.push(text.slice(i, i + size))
      const result = run(['STOP', '🌍'], pieces)
      assert.equal(result.text, text, `pieces of ${size}`)
      assert.equal(result.stopped, false)
    }
  })

  test('never relays half a surrogate pair', () => {
    const cutter = createStopCutter(['xy'])
    for (const piece of ['a🌏', '🌏', 'b🌏🌏']) {
      const { text } = cutter.push(piece)
      assert.ok(!/[\uD800-\uDBFF]$/.test(text), `relayed ${JSON.stringify(text)}`)
    }
  })

  test('a multibyte stop sequence', () => {
    assert.equal(run(['你好'], ['Echo | 你', '好🌏']).text, 'Echo | ')
  })
})

describe('parseXipuEvent', () => {
  test('a string piece is content', () => {
    assert.deepEqual(parseXipuEvent('{"id":"1","type":"string","data":"你好","code":0}'), { kind: 'content', text: '你好' })
  })

  test('a reasoning piece is reasoning, in either shape', () => {
    assert.deepEqual(parseXipuEvent('{"type":"reasoning_data","data":"hmm","code":0}'), { kind: 'reasoning', text: 'hmm' })
    assert.deepEqual(parseXipuEvent('{"reasoning_data":"hmm too","code":0}'), { kind: 'reasoning', text: 'hmm too' })
  })

  test('the object event is the result, with its counts', () => {
    assert.deepEqual(parseXipuEvent('{"type":"object","data":{"aiText":"A","reason":"R","promptTokens":3,"completionTokens":4},"code":0}'), {
      kind: 'result',
      aiText: 'A',
      reason: 'R',
      promptTokens: 3,
      completionTokens: 4,
    })
    assert.deepEqual(parseXipuEvent('{"type":"object","data":{"aiText":"A","promptTokens":"3"},"code":"0"}'), {
      kind: 'result',
      aiText: 'A',
      reason: undefined,
      promptTokens: undefined,
      completionTokens: undefined,
    })
  })

  test('accepts code as a string "0"', () => {
    assert.deepEqual(parseXipuEvent('{"type":"string","data":"x","code":"0"}'), { kind: 'content', text: 'x' })
  })

  test('code ≠ 0 is an error, with msg or data as its message', () => {
    assert.throws(() => parseXipuEvent('{"type":"string","data":null,"code":500,"msg":"model failed"}'), (e: unknown) => e instanceof XipuError && e.code === 'E_UPSTREAM' && /model failed/.test(e.message))
    assert.throws(() => parseXipuEvent('{"data":"quota exceeded","code":"429"}'), (e: unknown) => e instanceof XipuError && /quota exceeded/.test(e.message))
    assert.throws(() => parseXipuEvent('{"code":1}'), (e: unknown) => e instanceof XipuError && /code 1/.test(e.message))
  })

  test('carries nothing for keep-alives, stray text and empty pieces', () => {
    assert.equal(parseXipuEvent('not json'), undefined)
    assert.equal(parseXipuEvent(''), undefined)
    assert.equal(parseXipuEvent('null'), undefined)
    assert.equal(parseXipuEvent('{"type":"string","data":"","code":0}'), undefined)
    assert.equal(parseXipuEvent('{"type":"ping","code":0}'), undefined)
  })
})

describe('createAnswerMapper', () => {
  const request = (extra: Partial<ChatRequest> = {}): ChatRequest => ({ ...parseChatRequest({ model: 'm', messages: [{ role: 'user', content: 'q' }] }), ...extra })

  function feedAll(mapper: ReturnType<typeof createAnswerMapper>, events: XipuEvent[]) {
    const deltas = events.flatMap((e) => mapper.feed(e))
    const { deltas: last, ...rest } = mapper.finish()
    return { deltas: [...deltas, ...last], ...rest }
  }

  test('relays pieces and does not repeat them from the result', () => {
    const mapper = createAnswerMapper(request())
    const out = feedAll(mapper, [
      { kind: 'reasoning', text: 'think' },
      { kind: 'content', text: 'Hel' },
      { kind: 'content', text: 'lo' },
      { kind: 'result', aiText: 'Hello', reason: 'think', promptTokens: 2, completionTokens: 3 },
    ])
    assert.deepEqual(out.deltas, [{ reasoning_content: 'think' }, { content: 'Hel' }, { content: 'lo' }])
    assert.deepEqual(mapper.text(), { content: 'Hello', reasoning: 'think' })
    assert.deepEqual(out.usage, { prompt_tokens: 2, completion_tokens: 3, total_tokens: 5 })
    assert.equal(out.finishReason, 'stop')
  })

  test('uses the result when no pieces streamed', () => {
    const mapper = createAnswerMapper(request())
    const out = feedAll(mapper, [{ kind: 'result', aiText: 'Whole answer', reason: 'Whole reason' }])
    assert.deepEqual(out.deltas, [{ reasoning_content: 'Whole reason' }, { content: 'Whole answer' }])
  })

  test('estimates usage when the platform gives no counts', () => {
    const mapper = createAnswerMapper(request())
    const out = feedAll(mapper, [{ kind: 'content', text: '12345678' }])
    assert.equal(out.usage.completion_tokens, 2)
    assert.equal(out.usage.total_tokens, out.usage.prompt_tokens + 2)
  })

  test('stops at a stop sequence and relays nothing after it', () => {
    const mapper = createAnswerMapper(request({ stop: ['##'] }))
    assert.deepEqual(mapper.feed({ kind: 'content', text: 'ab#' }), [{ content: 'ab' }], 'the # is held back')
    assert.deepEqual(mapper.feed({ kind: 'content', text: '#cd' }), [])
    assert.equal(mapper.isStopped(), true)
    assert.deepEqual(mapper.feed({ kind: 'content', text: 'more' }), [])
    const out = mapper.finish()
    assert.deepEqual(out.deltas, [])
    assert.equal(out.finishReason, 'stop')
    assert.equal(mapper.text().content, 'ab')
  })

  test('finish_reason is length when the answer reached max_tokens', () => {
    const mapper = createAnswerMapper(request({ maxTokens: 3 }))
    const out = feedAll(mapper, [{ kind: 'content', text: 'abc' }, { kind: 'result', completionTokens: 3 }])
    assert.equal(out.finishReason, 'length')
  })
})

describe('toOpenAIError', () => {
  test('maps codes to statuses and OpenAI\'s shape', () => {
    const cases: Array<[XipuError, number, string]> = [
      [new XipuError('E_BAD_REQUEST', 'bad'), 400, 'invalid_request_error'],
      [new XipuError('E_TOKEN_EXPIRED', 'run npx tsx auth.ts'), 401, 'authentication_error'],
      [new XipuError('E_SESSION_CAP', 'cap'), 409, 'xipu_session_cap'],
      [new XipuError('E_RATE_LIMITED', 'slow down', { retryAfter: 2 }), 429, 'rate_limit_error'],
      [new XipuError('E_STREAM_TRUNCATED', 'cut'), 502, 'upstream_error'],
      [new XipuError('E_STREAM_STALLED', 'silent'), 504, 'upstream_error'],
    ]
    for (const [error, status, type] of cases) {
      const mapped = toOpenAIError(error)
      assert.equal(mapped.status, status, error.code)
      assert.equal(mapped.body.error.type, type)
      assert.equal(mapped.body.error.message, error.message)
      assert.deepEqual(Object.keys(mapped.body.error).sort(), ['code', 'message', 'param', 'type'])
    }
    assert.equal(toOpenAIError(new XipuError('E_RATE_LIMITED', 'x', { retryAfter: 2 })).headers['retry-after'], '2')
    const withParam = toOpenAIError(new XipuError('E_BAD_REQUEST', 'bad', { param: 'temperature' }))
    assert.equal(withParam.body.error.param, 'temperature')
  })

  test('an unexpected error is a 500 in the same shape', () => {
    const mapped = toOpenAIError(new TypeError('boom'))
    assert.equal(mapped.status, 500)
    assert.equal(mapped.body.error.type, 'server_error')
    assert.match(mapped.body.error.message, /boom/)
  })
})
