/**
 * The Vercel AI SDK (`ai` 6 with `@ai-sdk/openai-compatible` 2) through the
 * adapter: `generateText` with tools and a two-step loop that runs a real
 * local function, `streamText` the same way, and `generateObject` with a zod
 * schema (with and without the provider's structured-outputs flag).
 */
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { createOpenAICompatible } from '@ai-sdk/openai-compatible'
import { generateObject, generateText, stepCountIs, streamText, tool } from 'ai'
import { z } from 'zod'
import { startStack, type Stack } from './support/harness.ts'

let stack: Stack
before(async () => {
  stack = await startStack({ gapMs: 100 })
})
after(async () => {
  await stack?.close()
})

const provider = (structured: boolean) => createOpenAICompatible({ name: 'xipu', baseURL: stack.adapter.baseURL, apiKey: 'unused', supportsStructuredOutputs: structured })

function weatherTool(seen: unknown[]) {
  return tool({
    description: 'The weather in a city',
    inputSchema: z.object({ city: z.string() }),
    execute: async ({ city }) => {
      seen.push(city)
      return { city, temperature: 18 }
    },
  })
}

async function completionsSince(since: number) {
  await stack.waitForCleanPlatform()
  return stack.calls({ endpoint: 'completions', since })
}

describe('tools', () => {
  test('generateText: the model calls the tool, the SDK runs it, the model answers from the result (two steps, two platform calls)', async () => {
    const since = stack.sim.state.calls.length
    const seen: unknown[] = []
    const result = await generateText({
      model: provider(false)('gpt-4.1'),
      prompt: 'What is the weather in Suzhou?',
      tools: { get_weather: weatherTool(seen) },
      stopWhen: stepCountIs(2),
      maxRetries: 0,
    })
    assert.deepEqual(seen, ['Suzhou'])
    assert.equal(result.steps.length, 2)
    assert.equal(result.steps[0]!.finishReason, 'tool-calls')
    assert.equal(result.steps[0]!.toolCalls[0]!.toolName, 'get_weather')
    assert.equal(result.text, 'From the tools: get_weather → {"city":"Suzhou","temperature":18} | 你好🌏')
    assert.equal((await completionsSince(since)).length, 2)
  })

  test('streamText: the same loop over streamed answers', async () => {
    const seen: unknown[] = []
    const result = streamText({
      model: provider(false)('gpt-4.1'),
      prompt: 'What is the weather in Xian? [[sim:call=get_weather {"city": "Xian"}]]',
      tools: { get_weather: weatherTool(seen) },
      stopWhen: stepCountIs(2),
      maxRetries: 0,
    })
    assert.equal(await result.text, 'From the tools: get_weather → {"city":"Xian","temperature":18} | 你好🌏')
    assert.deepEqual(seen, ['Xian'])
  })
})

describe('generateObject', () => {
  const Weather = z.object({ city: z.string(), temperature: z.number() })
  for (const structured of [true, false]) {
    test(`a zod schema (supportsStructuredOutputs: ${structured})`, async () => {
      const since = stack.sim.state.calls.length
      const { object } = await generateObject({
        model: provider(structured)('gpt-4.1'),
        schema: Weather,
        prompt: 'The weather in Suzhou. [[sim:json={"city": "Suzhou", "temperature": 18}]] [[sim:json-style=fenced]]',
        maxRetries: 0,
      })
      assert.deepEqual(object, { city: 'Suzhou', temperature: 18 })
      const [call] = await completionsSince(since)
      assert.match((call!.body as { text: string }).text, /Answer with one JSON value only/)
    })
  }
})
