/**
 * Structured output on /v1/chat/completions end to end: `response_format`
 * json_object and json_schema (the SDK's `parse()` with a zod schema), JSON
 * found inside fences and prose, invalid JSON and schema breaks repaired
 * once, else a 502; streaming sends the validated JSON as one delta.
 */
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import OpenAI from 'openai'
import { zodResponseFormat } from 'openai/helpers/zod'
import { z } from 'zod'
import { startStack, type Stack } from './support/harness.ts'
import { readRawStream } from './support/sse.ts'

const Weather = z.object({ city: z.string(), temperature: z.number(), sky: z.enum(['sunny', 'cloudy', 'rain']) })
const good = '{"city": "Suzhou", "temperature": 18, "sky": "sunny"}'

let stack: Stack
before(async () => {
  stack = await startStack({ gapMs: 100 })
})
after(async () => {
  await stack?.close()
})

async function completionsSince(since: number) {
  await stack.waitForCleanPlatform()
  return stack.calls({ endpoint: 'completions', since }).map((c) => (c.body as { text: string }).text)
}

async function failure(request: Promise<unknown>): Promise<InstanceType<typeof OpenAI.APIError>> {
  const error = await request.then(
    () => assert.fail('the request succeeded'),
    (e: unknown) => e,
  )
  assert.ok(error instanceof OpenAI.APIError, String(error))
  return error
}

const parseWeather = (content: string) =>
  stack.openai.chat.completions.parse({ model: 'gpt-4.1', messages: [{ role: 'user', content }], response_format: zodResponseFormat(Weather, 'weather') })

describe('json_schema', () => {
  test("the SDK's parse() with a zod schema gets a parsed object; the schema went into the prompt", async () => {
    const since = stack.sim.state.calls.length
    const reply = await parseWeather(`Weather in Suzhou as JSON. [[sim:json=${good}]]`)
    assert.deepEqual(reply.choices[0]!.message.parsed, { city: 'Suzhou', temperature: 18, sky: 'sunny' })
    assert.equal(reply.choices[0]!.message.content, good)
    const [prompt] = await completionsSince(since)
    assert.match(prompt!, /\n\nSystem:\nAnswer with one JSON value only: no prose, no code fence, nothing before or after it\.\nIt must be valid against this JSON Schema \(named "weather"\):\n<json_schema>\n\{.*"sky".*\}\n<\/json_schema>$/)
  })

  for (const style of ['fenced', 'prose']) {
    test(`JSON in ${style === 'fenced' ? 'a code fence' : 'prose'}: the content is the JSON alone`, async () => {
      const reply = await parseWeather(`Weather. [[sim:json=${good}]] [[sim:json-style=${style}]]`)
      assert.equal(reply.choices[0]!.message.content, good)
      assert.equal(reply.choices[0]!.message.parsed?.city, 'Suzhou')
    })
  }

  test('JSON with a trailing comma is repaired in place, without asking again', async () => {
    const since = stack.sim.state.calls.length
    const reply = await parseWeather('Weather. [[sim:json={"city": "Suzhou", "temperature": 18, "sky": "sunny",}]]')
    assert.equal(reply.choices[0]!.message.content, '{"city":"Suzhou","temperature":18,"sky":"sunny"}')
    assert.equal((await completionsSince(since)).length, 1)
  })

  test('an answer that breaks the schema is asked for again, and the repaired one comes back', async () => {
    const since = stack.sim.state.calls.length
    const reply = await parseWeather(`Weather. [[sim:json={"city": "Suzhou", "temperature": "warm", "sky": "sunny"}]] [[sim:repaired-json=${good}]]`)
    assert.equal(reply.choices[0]!.message.parsed?.temperature, 18)
    const prompts = await completionsSince(since)
    assert.equal(prompts.length, 2)
    assert.match(prompts[1]!, /Your previous answer was rejected: answer\/temperature must be number/)
  })

  test('still breaking the schema after the repair: 502 invalid_model_output, never a 200 with it', async () => {
    const error = await failure(parseWeather('Weather. [[sim:json={"city": "Suzhou", "temperature": 18, "sky": "snow"}]]'))
    assert.equal(error.status, 502)
    assert.equal(error.code, 'invalid_model_output')
    assert.match(error.message, /answer\/sky must be equal to one of the allowed values \(\["sunny","cloudy","rain"\]\)/)
  })

  test('without a scripted answer the simulated model fills the schema', async () => {
    const reply = await parseWeather('Anything')
    assert.deepEqual(Object.keys(reply.choices[0]!.message.parsed!).sort(), ['city', 'sky', 'temperature'])
  })
})

describe('json_object', () => {
  test('an object comes back as its JSON text', async () => {
    const reply = await stack.openai.chat.completions.create({ model: 'gpt-4.1', messages: [{ role: 'user', content: 'Reply in JSON. [[sim:json-style=fenced]] [[sim:json={"ok": true}]]' }], response_format: { type: 'json_object' } })
    assert.equal(reply.choices[0]!.message.content, '{"ok": true}')
    assert.equal(reply.choices[0]!.finish_reason, 'stop')
  })

  test('invalid JSON: repaired once, else 502 quoting why', async () => {
    const repaired = await stack.openai.chat.completions.create({ model: 'gpt-4.1', messages: [{ role: 'user', content: 'JSON. [[sim:json=Sorry, no JSON today.]] [[sim:repaired-json={"ok": 1}]]' }], response_format: { type: 'json_object' } })
    assert.equal(repaired.choices[0]!.message.content, '{"ok": 1}')
    const error = await failure(stack.openai.chat.completions.create({ model: 'gpt-4.1', messages: [{ role: 'user', content: 'JSON. [[sim:json=Sorry, no JSON today.]]' }], response_format: { type: 'json_object' } }))
    assert.equal(error.status, 502)
    assert.match(error.message, /the answer holds no JSON object/)
  })

  test('an array is not a JSON object', async () => {
    const error = await failure(stack.openai.chat.completions.create({ model: 'gpt-4.1', messages: [{ role: 'user', content: 'JSON. [[sim:json=[1, 2]]]' }], response_format: { type: 'json_object' } }))
    assert.match(error.message, /must be a JSON object/)
  })
})

describe('streaming', () => {
  test('the validated JSON is one content delta, after the repair if one was needed', async () => {
    const response = await stack.postChat({
      model: 'gpt-4.1',
      stream: true,
      messages: [{ role: 'user', content: `Weather. [[sim:json={"city": 1}]] [[sim:repaired-json=${good}]] [[sim:json-style=prose]]` }],
      response_format: zodResponseFormat(Weather, 'weather'),
    })
    const raw = await readRawStream(response)
    const contents = raw.chunks.map((c) => c.choices[0]?.delta.content).filter((c) => c)
    assert.deepEqual(contents, [good])
    assert.equal(raw.chunks.at(-1)!.choices[0]!.finish_reason, 'stop')
    assert.equal(raw.doneCount, 1)
  })

  test("the SDK's stream helper parses it too", async () => {
    const final = await stack.openai.chat.completions
      .stream({ model: 'gpt-4.1', messages: [{ role: 'user', content: `Weather. [[sim:json=${good}]] [[sim:json-style=fenced]]` }], response_format: zodResponseFormat(Weather, 'weather') })
      .finalChatCompletion()
    assert.deepEqual(final.choices[0]!.message.parsed, { city: 'Suzhou', temperature: 18, sky: 'sunny' })
  })
})

describe('bad formats are 400s', () => {
  test('an unknown type, and a schema that is not one', async () => {
    const unknown = await failure(stack.openai.chat.completions.create({ model: 'gpt-4.1', messages: [{ role: 'user', content: 'x' }], response_format: { type: 'yaml' } as never }))
    assert.equal(unknown.status, 400)
    assert.equal((unknown.error as { param: string }).param, 'response_format.type')
    const broken = await failure(stack.openai.chat.completions.create({ model: 'gpt-4.1', messages: [{ role: 'user', content: 'x' }], response_format: { type: 'json_schema', json_schema: { name: 'x', schema: { type: 'object', required: 'city' } } } }))
    assert.equal(broken.status, 400)
    assert.equal((broken.error as { param: string }).param, 'response_format.json_schema.schema')
  })
})

describe('afterwards', () => {
  // Not asserted: no 429 at all. On a loaded machine a paced call can reach the simulator a few ms
  // early (timer jitter at a 100 ms gap); the client retries it, and the platform's real gap is 1 s.
  test('no session left behind', async () => {
    await stack.waitForCleanPlatform()
  })
})
