/**
 * The Responses API end to end: the official `openai` SDK (`responses.create`,
 * the `responses.stream()` helper) → the adapter → the simulated platform.
 * The same pipeline as chat completions: one session per request, the same
 * flattened prompt, the same usage estimate.
 */
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { createAnswer } from '../lib/simulator/answers.ts'
import { startStack, type Stack } from './support/harness.ts'

let stack: Stack

before(async () => {
  stack = await startStack({ gapMs: 50, overrides: { XIPU_MODEL_MAP: 'gpt-5-codex=gpt-4.1-nano', XIPU_RESPONSES_KEEP: '2' } })
})
after(async () => {
  await stack?.close()
})

/** What the simulated model answers to a flattened prompt (the simulator is the oracle). */
function expected(model: string, text: string, thinking?: string) {
  return createAnswer({ model, text, history: [], online: false, thinking, maxToken: 0, files: [] })
}

/** POSTs a raw Responses request and reads the SSE frames (event line, data). */
async function rawStream(body: unknown): Promise<Array<{ event: string; data: Record<string, unknown> }>> {
  const response = await fetch(`${stack.adapter.baseURL}/responses`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ...(body as object), stream: true }) })
  assert.equal(response.status, 200)
  assert.match(response.headers.get('content-type') ?? '', /^text\/event-stream/)
  const text = await response.text()
  return text
    .split('\n\n')
    .filter((frame) => frame.trim() !== '')
    .map((frame) => {
      const [eventLine, dataLine, ...rest] = frame.split('\n')
      assert.equal(rest.length, 0, `one event: line and one data: line per frame, got ${JSON.stringify(frame)}`)
      assert.match(eventLine!, /^event: /)
      assert.match(dataLine!, /^data: /)
      return { event: eventLine!.slice(7), data: JSON.parse(dataLine!.slice(6)) as Record<string, unknown> }
    })
}

describe('responses.create', () => {
  test('a plain text response, with instructions, over one platform session', async () => {
    const since = stack.sim.state.calls.length
    const reply = await stack.openai.responses.create({ model: 'gpt-4.1', instructions: 'Be brief.', input: 'Hello' })

    assert.match(reply.id, /^resp_/)
    assert.equal(reply.object, 'response')
    assert.equal(reply.status, 'completed')
    assert.equal(reply.model, 'gpt-4.1')
    assert.equal(reply.output.length, 1)
    const message = reply.output[0]!
    assert.equal(message.type, 'message')
    assert.ok(message.type === 'message' && message.role === 'assistant')
    const want = expected('gpt-4.1', 'System:\nBe brief.\n\nUser:\nHello').text
    assert.equal(reply.output_text, want)
    assert.equal(reply.usage!.input_tokens, Math.ceil('System:\nBe brief.\n\nUser:\nHello'.length / 4))
    assert.equal(reply.usage!.total_tokens, reply.usage!.input_tokens + reply.usage!.output_tokens)

    await stack.waitForCleanPlatform()
    const completions = stack.calls({ endpoint: 'completions', since })
    assert.equal(completions.length, 1)
    assert.equal((completions[0]!.body as { text: string }).text, 'System:\nBe brief.\n\nUser:\nHello')
    assert.equal(stack.calls({ endpoint: 'delSession', since }).length, 0, 'the session goes back to the pool, as for chat completions')
  })

  test('input items: messages with input_text and output_text parts, developer role', async () => {
    const reply = await stack.openai.responses.create({
      model: 'gpt-4.1',
      input: [
        { role: 'developer', content: 'Answer in English.' },
        { role: 'user', content: [{ type: 'input_text', text: 'First' }] },
        { type: 'message', role: 'assistant', content: [{ type: 'output_text', text: 'Answer one', annotations: [] }] } as never,
        { role: 'user', content: [{ type: 'input_text', text: 'Second' }] },
      ],
    })
    assert.equal(reply.output_text, expected('gpt-4.1', 'System:\nAnswer in English.\n\nUser:\nFirst\n\nAssistant:\nAnswer one\n\nUser:\nSecond').text)
  })

  test('XIPU_MODEL_MAP sends a mapped name to its platform model; the reply shows the requested name', async () => {
    const since = stack.sim.state.calls.length
    const reply = await stack.openai.responses.create({ model: 'gpt-5-codex', input: 'Hi' })
    assert.equal(reply.model, 'gpt-5-codex')
    assert.match(reply.output_text, /^Echo from gpt-4\.1-nano: Hi/)
    const sent = stack.calls({ endpoint: 'completions', since })[0]!.body as { sessionId: string }
    assert.equal(stack.sim.state.sessions.get(Number(sent.sessionId))?.model, 'gpt-4.1-nano')
  })

  test('the same map applies to chat completions', async () => {
    const since = stack.sim.state.calls.length
    const reply = await stack.openai.chat.completions.create({ model: 'gpt-5-codex', messages: [{ role: 'user', content: 'Hi' }] })
    assert.equal(reply.model, 'gpt-5-codex')
    const sent = stack.calls({ endpoint: 'completions', since })[0]!.body as { sessionId: string }
    assert.equal(stack.sim.state.sessions.get(Number(sent.sessionId))?.model, 'gpt-4.1-nano')
  })

  test('a reasoning model: a reasoning item with summary_text, then the message; reasoning tokens counted', async () => {
    const since = stack.sim.state.calls.length
    const reply = await stack.openai.responses.create({ model: 'o3', input: 'Why is the sky blue?', reasoning: { effort: 'high', summary: 'auto' } })
    const want = expected('o3', 'User:\nWhy is the sky blue?', 'high')
    assert.deepEqual(
      reply.output.map((item) => item.type),
      ['reasoning', 'message'],
    )
    const reasoning = reply.output[0]!
    assert.ok(reasoning.type === 'reasoning')
    assert.deepEqual(reasoning.summary, [{ type: 'summary_text', text: want.reasoning }])
    assert.equal(reply.output_text, want.text)
    assert.ok(reply.usage!.output_tokens_details.reasoning_tokens > 0)
    assert.ok(reply.usage!.output_tokens_details.reasoning_tokens < reply.usage!.output_tokens)
    assert.equal((stack.calls({ endpoint: 'completions', since })[0]!.body as { thinking?: string }).thinking, 'high', "reasoning.effort is the platform's thinking")
  })

  test("a web_search tool turns on the platform's own web search, as web_search_options does for chat completions", async () => {
    const since = stack.sim.state.calls.length
    const reply = await stack.openai.responses.create({ model: 'gpt-4.1', input: 'News?', tools: [{ type: 'web_search' }] })
    assert.match(reply.output_text, /web search on/)
    assert.equal((stack.calls({ endpoint: 'completions', since })[0]!.body as { online: number }).online, 1)
  })

  test('max_output_tokens cut: status incomplete with incomplete_details', async () => {
    const reply = await stack.openai.responses.create({ model: 'gpt-4.1', input: 'Tell me more [[sim:long=4000]]', max_output_tokens: 40 })
    assert.equal(reply.status, 'incomplete')
    assert.deepEqual(reply.incomplete_details, { reason: 'max_output_tokens' })
    assert.equal(reply.output[0]!.type === 'message' && reply.output[0]!.status, 'incomplete')
  })
})

describe('streaming', () => {
  test('responses.stream() and finalResponse(): the typed events, in order, build the same response', async () => {
    const stream = stack.openai.responses.stream({ model: 'gpt-4.1', input: 'Stream this' })
    const types: string[] = []
    let text = ''
    stream.on('response.output_text.delta', (event) => {
      text += event.delta
    })
    for await (const event of stream) types.push(event.type)
    const final = await stream.finalResponse()

    const want = expected('gpt-4.1', 'User:\nStream this').text
    assert.equal(text, want)
    assert.equal(final.status, 'completed')
    assert.equal(final.output[0]!.type === 'message' && final.output[0]!.content[0]!.type === 'output_text' && final.output[0]!.content[0]!.text, want)
    assert.deepEqual(types.slice(0, 4), ['response.created', 'response.in_progress', 'response.output_item.added', 'response.content_part.added'])
    assert.deepEqual(types.slice(-4), ['response.output_text.done', 'response.content_part.done', 'response.output_item.done', 'response.completed'])
    assert.ok(types.filter((t) => t === 'response.output_text.delta').length > 1, 'the text arrives in pieces')
  })

  test('the wire: event: and data: lines, sequence_number counting from 0, reasoning summary events', async () => {
    const frames = await rawStream({ model: 'DeepSeek-R1', input: 'Think first' })
    frames.forEach((frame, i) => {
      assert.equal(frame.data.type, frame.event, 'the event line names the data type')
      assert.equal(frame.data.sequence_number, i)
    })
    const types = frames.map((f) => f.event)
    const want = expected('DeepSeek-R1', 'User:\nThink first')
    assert.deepEqual(types.slice(0, 4), ['response.created', 'response.in_progress', 'response.output_item.added', 'response.reasoning_summary_part.added'])
    const summary = frames.filter((f) => f.event === 'response.reasoning_summary_text.delta').map((f) => f.data.delta).join('')
    assert.equal(summary, want.reasoning)
    assert.equal(frames.find((f) => f.event === 'response.reasoning_summary_text.done')!.data.text, want.reasoning)
    const created = frames[0]!.data.response as Record<string, unknown>
    assert.equal(created.status, 'in_progress')
    const completed = frames.at(-1)!.data.response as { status: string; output: Array<{ type: string; id: string }>; id: string }
    assert.equal(completed.status, 'completed')
    assert.equal(completed.id, created.id)
    assert.deepEqual(completed.output.map((i) => i.type), ['reasoning', 'message'])
    // Every item is added and done under the same id.
    const added = frames.filter((f) => f.event === 'response.output_item.added').map((f) => (f.data.item as { id: string }).id)
    const done = frames.filter((f) => f.event === 'response.output_item.done').map((f) => (f.data.item as { id: string }).id)
    assert.deepEqual(added, done)
    assert.deepEqual(added, completed.output.map((i) => i.id))
  })

  test('max_output_tokens while streaming ends with response.incomplete', async () => {
    const frames = await rawStream({ model: 'gpt-4.1', input: 'Long [[sim:long=4000]]', max_output_tokens: 40 })
    const last = frames.at(-1)!
    assert.equal(last.event, 'response.incomplete')
    assert.deepEqual((last.data.response as { incomplete_details: unknown }).incomplete_details, { reason: 'max_output_tokens' })
  })

  test('a platform failure mid-stream ends with response.failed carrying the error; the session is still deleted', async () => {
    const frames = await rawStream({ model: 'gpt-4.1', input: 'Fail [[sim:long=3000]] [[sim:error-after=3]]' })
    const last = frames.at(-1)!
    assert.equal(last.event, 'response.failed')
    const response = last.data.response as { status: string; error: { code: string; message: string } }
    assert.equal(response.status, 'failed')
    assert.equal(typeof response.error.code, 'string')
    assert.match(response.error.message, /platform/i)
    assert.ok(!frames.some((f) => f.event === 'response.completed'))
    await stack.waitForCleanPlatform()
  })
})

describe('previous_response_id', () => {
  test('chains onto the kept conversation (instructions are not carried over), and GET retrieves a kept response', async () => {
    const first = await stack.openai.responses.create({ model: 'gpt-4.1', instructions: 'Only for the first.', input: 'My name is Ada.' })
    const since = stack.sim.state.calls.length
    const second = await stack.openai.responses.create({ model: 'gpt-4.1', input: 'What is my name?', previous_response_id: first.id })
    assert.equal(second.previous_response_id, first.id)
    const sent = (stack.calls({ endpoint: 'completions', since })[0]!.body as { text: string }).text
    assert.equal(sent, `User:\nMy name is Ada.\n\nAssistant:\n${first.output_text}\n\nUser:\nWhat is my name?`)
    assert.match(second.output_text, /turns 2/)

    const retrieved = await stack.openai.responses.retrieve(second.id)
    assert.equal(retrieved.id, second.id)
    assert.equal(retrieved.output_text, second.output_text)
  })

  test('an unknown id is a 404 in OpenAI shape that says responses are kept in memory only', async () => {
    await assert.rejects(stack.openai.responses.create({ model: 'gpt-4.1', input: 'Hi', previous_response_id: 'resp_unknown' }), (error: { status: number; error: { message: string; param: string } }) => {
      assert.equal(error.status, 404)
      assert.equal(error.error.param, 'previous_response_id')
      assert.match(error.error.message, /kept in memory only/)
      return true
    })
  })

  test('only the newest XIPU_RESPONSES_KEEP are kept, and store: false keeps nothing', async () => {
    const a = await stack.openai.responses.create({ model: 'gpt-4.1', input: 'a' })
    const unstored = await stack.openai.responses.create({ model: 'gpt-4.1', input: 'b', store: false })
    await stack.openai.responses.create({ model: 'gpt-4.1', input: 'c' })
    await stack.openai.responses.create({ model: 'gpt-4.1', input: 'd' })
    await assert.rejects(stack.openai.responses.retrieve(a.id), { status: 404 })
    await assert.rejects(stack.openai.responses.retrieve(unstored.id), { status: 404 })
  })
})

describe('bad input: a 400 that names the parameter, before anything reaches the platform', () => {
  const cases: Array<[string, Record<string, unknown>, string, RegExp]> = [
    ['no model', { input: 'Hi' }, 'model', /required/],
    ['a built-in tool type', { model: 'gpt-4.1', input: 'Hi', tools: [{ type: 'web_search' }, { type: 'file_search', vector_store_ids: [] }] }, 'tools[1].type', /file_search/],
    ['an unknown item type', { model: 'gpt-4.1', input: [{ type: 'computer_call_output', call_id: 'x' }] }, 'input[0].type', /computer_call_output/],
    ['a bad role', { model: 'gpt-4.1', input: [{ role: 'robot', content: 'Hi' }] }, 'input[0].role', /user, assistant/],
    ['a file part', { model: 'gpt-4.1', input: [{ role: 'user', content: [{ type: 'input_file', file_id: 'f' }] }] }, 'input[0].content[0]', /input_file/],
    ['a bad effort', { model: 'gpt-4.1', input: 'Hi', reasoning: { effort: 'extreme' } }, 'reasoning.effort', /Invalid/],
    ['background', { model: 'gpt-4.1', input: 'Hi', background: true }, 'background', /background/],
    ['empty input', { model: 'gpt-4.1', input: [] }, 'input', /nothing to send/],
    [
      'a function_call without its output (in the Responses API\'s own terms)',
      { model: 'gpt-4.1', input: [{ role: 'user', content: 'Hi' }, { type: 'function_call', call_id: 'call_1', name: 'get_weather', arguments: '{}' }, { role: 'user', content: 'and?' }] },
      'input[2]',
      /'call_1' \(get_weather\) of 'input\[1\]' have no function_call_output item/,
    ],
    [
      'a function_call_output that answers no call',
      { model: 'gpt-4.1', input: [{ role: 'user', content: 'Hi' }, { type: 'function_call_output', call_id: 'call_9', output: 'x' }] },
      'input[1]',
      /this function_call_output item answers call_id 'call_9'.*follow a 'function_call' item/,
    ],
  ]
  for (const [name, body, param, message] of cases) {
    test(name, async () => {
      const since = stack.sim.state.calls.length
      const response = await fetch(`${stack.adapter.baseURL}/responses`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
      assert.equal(response.status, 400)
      const { error } = (await response.json()) as { error: { message: string; type: string; param: string } }
      assert.equal(error.type, 'invalid_request_error')
      assert.equal(error.param, param)
      assert.match(error.message, message)
      assert.equal(stack.calls({ endpoint: 'saveSession', since }).length, 0)
    })
  }

  test('the /responses route without /v1 is served too', async () => {
    const response = await fetch(`${stack.adapter.url}/responses`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'gpt-4.1', input: 'Hi' }) })
    assert.equal(response.status, 200)
    assert.equal(((await response.json()) as { object: string }).object, 'response')
  })
})

describe('tools and structured output (the same tool layer as chat completions)', () => {
  const tools = [
    {
      type: 'function' as const,
      name: 'get_weather',
      description: 'The weather in a city',
      strict: true,
      parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'], additionalProperties: false },
    },
  ]

  test('a function-call round trip: function_call item, then function_call_output chained with previous_response_id', async () => {
    const first = await stack.openai.responses.create({ model: 'gpt-4.1', input: 'What is the weather in Suzhou?', tools })
    assert.equal(first.status, 'completed')
    assert.equal(first.output.length, 1, 'an answer of calls needs no message')
    const call = first.output[0]!
    assert.ok(call.type === 'function_call')
    assert.equal(call.name, 'get_weather')
    assert.deepEqual(JSON.parse(call.arguments), { city: 'Suzhou' })
    assert.match(call.call_id, /\S/)

    const since = stack.sim.state.calls.length
    const second = await stack.openai.responses.create({ model: 'gpt-4.1', tools, previous_response_id: first.id, input: [{ type: 'function_call_output', call_id: call.call_id, output: 'Sunny, 25°C' }] })
    assert.equal(second.output_text, 'From the tools: get_weather → Sunny, 25°C | 你好🌏')
    const sent = (stack.calls({ endpoint: 'completions', since })[0]!.body as { text: string }).text
    assert.match(sent, /What is the weather in Suzhou\?/, 'the kept conversation travelled along')
  })

  test('the same round trip with the whole history in input, as Codex sends it', async () => {
    const input: Array<Record<string, unknown>> = [{ role: 'user', content: 'What is the weather in Paris?' }]
    const first = await stack.openai.responses.create({ model: 'gpt-4.1', input: input as never, tools, store: false })
    const call = first.output.find((item) => item.type === 'function_call')!
    assert.ok(call.type === 'function_call')
    const second = await stack.openai.responses.create({ model: 'gpt-4.1', tools, store: false, input: [...input, ...first.output, { type: 'function_call_output', call_id: call.call_id, output: 'Rain' }] as never })
    assert.equal(second.output_text, 'From the tools: get_weather → Rain | 你好🌏')
  })

  test('streamed: the function_call item with function_call_arguments.delta and .done; finalResponse() holds the call', async () => {
    const stream = stack.openai.responses.stream({ model: 'gpt-4.1', input: 'What is the weather in Suzhou?', tools })
    const types: string[] = []
    for await (const event of stream) types.push(event.type)
    const final = await stream.finalResponse()
    const call = final.output.find((item) => item.type === 'function_call')
    assert.ok(call && call.type === 'function_call')
    assert.deepEqual(JSON.parse(call.arguments), { city: 'Suzhou' })
    for (const type of ['response.output_item.added', 'response.function_call_arguments.delta', 'response.function_call_arguments.done', 'response.output_item.done']) assert.ok(types.includes(type), type)
    assert.equal(types.at(-1), 'response.completed')
  })

  test('text.format json_schema: the answer is JSON that fits the schema', async () => {
    const reply = await stack.openai.responses.create({
      model: 'gpt-4.1',
      input: 'Make up a person',
      text: { format: { type: 'json_schema', name: 'person', strict: true, schema: { type: 'object', properties: { name: { type: 'string' }, age: { type: 'integer' } }, required: ['name', 'age'], additionalProperties: false } } },
    })
    const person = JSON.parse(reply.output_text) as { name: unknown; age: unknown }
    assert.equal(typeof person.name, 'string')
    assert.ok(Number.isInteger(person.age))
    assert.deepEqual(reply.text?.format?.type, 'json_schema')
  })
})
