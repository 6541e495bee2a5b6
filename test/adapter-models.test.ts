/**
 * GET /v1/models (the platform's catalog, cached; the built-in list when the
 * catalog cannot be read), GET /v1/models/{id}, and /health.
 */
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import Anthropic from '@anthropic-ai/sdk'
import OpenAI from 'openai'
import { BUILTIN_MODELS } from '../lib/xipu/catalog.ts'
import { SIMULATED_CATALOG } from '../lib/simulator/answers.ts'
import { startStack, type Stack } from './support/harness.ts'

const CATALOG_IDS = SIMULATED_CATALOG.map((e) => (typeof e === 'string' ? e : (e.value ?? e.model ?? e.name)!))

describe('with the platform catalog', () => {
  let stack: Stack
  before(async () => {
    stack = await startStack({ gapMs: 120 })
  })
  after(async () => {
    await stack?.close()
  })

  test('lists the 21 models of the catalog, in its order, in OpenAI\'s shape', async () => {
    const page = await stack.openai.models.list()
    const ids = page.data.map((m) => m.id)
    assert.equal(ids.length, 21)
    assert.deepEqual(ids, CATALOG_IDS)
    for (const model of page.data) {
      assert.equal(model.object, 'model')
      assert.equal(typeof model.created, 'number')
      assert.equal(typeof model.owned_by, 'string')
    }
    const raw = (await (await fetch(`${stack.adapter.baseURL}/models`)).json()) as { object: string; data: Array<Record<string, unknown>> }
    assert.equal(raw.object, 'list')
    const luna = raw.data.find((m) => m.id === 'gpt-5.6-luna')!
    assert.equal(luna.name, 'GPT-5.6 Luna', 'the catalog label')
    assert.equal(luna.multimodal, true)
    assert.equal(raw.data.find((m) => m.id === 'gpt-5.4-mini')!.multimodal, true, 'multimodal: 1 counts')
    assert.equal(raw.data.find((m) => m.id === 'gpt-5.4-nano')!.multimodal, false)
    assert.equal(raw.data.find((m) => m.id === 'kimi-k2')!.multimodal, false, 'a bare string entry')
    assert.ok(raw.data.every((m) => m.source === 'platform'))
  })

  test('reads the catalog from the platform once and then serves it from the cache', async () => {
    const configCalls = () => stack.calls().filter((c) => c.endpoint === 'config')
    const before = configCalls().length
    assert.ok(before >= 1)
    await Promise.all([stack.openai.models.list(), stack.openai.models.list(), fetch(`${stack.adapter.baseURL}/models`).then((r) => r.json())])
    assert.equal(configCalls().length, before)
    assert.ok(configCalls().every((c) => c.query.lang === 'en' && c.status === 200))
  })

  test('the models route works without /v1 too', async () => {
    const raw = (await (await fetch(`${stack.adapter.url}/models`)).json()) as { data: unknown[] }
    assert.equal(raw.data.length, 21)
  })

  test('GET /v1/models/{id} returns one model', async () => {
    const model = await stack.openai.models.retrieve('claude-3-7-sonnet-20250219')
    assert.equal(model.id, 'claude-3-7-sonnet-20250219')
    assert.equal(model.object, 'model')
    assert.equal((model as unknown as { name: string }).name, 'Claude 3.7 Sonnet')
  })

  test('GET /v1/models/{id} knows the :online variant and ids with odd characters', async () => {
    const online = await stack.openai.models.retrieve('gpt-4.1:online')
    assert.equal(online.id, 'gpt-4.1:online')
    const dotted = await stack.openai.models.retrieve('qwen3.6-27b')
    assert.equal(dotted.id, 'qwen3.6-27b')
  })

  test('GET /v1/models/{id} of an unknown model is a 404 in OpenAI\'s shape', async () => {
    await assert.rejects(stack.openai.models.retrieve('no-such-model'), (error: unknown) => {
      assert.ok(error instanceof OpenAI.NotFoundError)
      assert.equal(error.status, 404)
      assert.equal(error.param, 'model')
      assert.match(error.message, /no-such-model/)
      return true
    })
  })

  test('/health tells the state of things', async () => {
    const response = await fetch(`${stack.adapter.url}/health`)
    assert.equal(response.status, 200)
    const health = (await response.json()) as Record<string, any>
    assert.equal(health.status, 'ok')
    assert.equal(typeof health.uptimeSeconds, 'number')
    assert.equal(health.apiBase, stack.sim.apiBase)
    assert.equal(health.token.present, true)
    assert.equal(health.token.expired, false)
    assert.ok(health.token.secondsLeft > 3600, 'the simulator issues 4-hour tokens')
    assert.ok(!Number.isNaN(Date.parse(health.token.expiresAt)))
    assert.equal(typeof health.token.description, 'string')
    assert.equal(health.pacer.gapMs, stack.gapMs)
    assert.equal(typeof health.pacer.calls, 'number')
    assert.deepEqual(Object.keys(health.pacer.queue).sort(), ['cleanup', 'idle', 'request'])
    assert.equal(health.sessions.active, 0)
    assert.equal(health.sessions.inFlight, 0)
    const text = JSON.stringify(health)
    const token = stack.adapter.settings().jmToken!
    assert.ok(!text.includes(token) && !text.includes(token.split('.')[2]!), 'the token is never shown')
  })

  test('/health does not call the platform', async () => {
    const before = stack.sim.state.calls.length
    await fetch(`${stack.adapter.url}/health`).then((r) => r.json())
    assert.equal(stack.sim.state.calls.length, before)
  })
})

describe('when the catalog cannot be read', () => {
  test('offers the built-in list', async (t) => {
    const stack = await startStack({ stopAfter: t, gapMs: 120 })
    stack.sim.state.injectFault('config', { kind: 'status', status: 500, times: 100 })
    const page = await stack.openai.models.list()
    assert.deepEqual(
      page.data.map((m) => m.id),
      BUILTIN_MODELS,
    )
    const catalogCalls = stack.sim.state.calls.filter((c) => c.endpoint === 'config').length
    const raw = (await (await fetch(`${stack.adapter.baseURL}/models`)).json()) as { data: Array<{ source: string }> }
    assert.ok(raw.data.every((m) => m.source === 'builtin'))
    // The fallback is kept for a while: a second listing does not spend platform calls again.
    assert.equal(stack.sim.state.calls.filter((c) => c.endpoint === 'config').length, catalogCalls)
    // A non-ASCII id of the built-in list, through the SDK's path encoding.
    assert.equal((await stack.openai.models.retrieve('DeepseekR1联网')).id, 'DeepseekR1联网')
    // And chat still works with any id.
    const reply = await stack.openai.chat.completions.create({ model: 'gpt-4.1', messages: [{ role: 'user', content: 'still here' }] })
    assert.match(reply.choices[0]!.message.content ?? '', /still here/)
    assert.equal(stack.sim.state.rateLimited, 0)
  })

  test('offers the built-in list when the platform is unreachable', async (t) => {
    const stack = await startStack({ stopAfter: t, gapMs: 120, overrides: { XIPU_API_BASE: 'http://127.0.0.1:9/nothing-here' } })
    const page = await stack.openai.models.list()
    assert.deepEqual(
      page.data.map((m) => m.id),
      BUILTIN_MODELS,
    )
  })

  test('XIPU_MODELS replaces the list', async (t) => {
    const stack = await startStack({ stopAfter: t, gapMs: 120, overrides: { XIPU_MODELS: 'alpha, beta-2 ,gamma:online' } })
    const page = await stack.openai.models.list()
    assert.deepEqual(
      page.data.map((m) => m.id),
      ['alpha', 'beta-2', 'gamma:online'],
    )
    assert.equal(stack.calls().filter((c) => c.endpoint === 'config').length, 0, 'no catalog call needed')
  })
})

describe('XIPU_MODEL_MAP', () => {
  test('its names are listed after the catalog as aliases, and retrievable; a name the catalog holds is not listed twice', async (t) => {
    const stack = await startStack({ stopAfter: t, gapMs: 120, overrides: { XIPU_MODEL_MAP: 'claude-sonnet-4-5=claude-3-7-sonnet-20250219,claude-haiku-4-5=gpt-5.4-mini,gpt-4.1=gpt-5.4' } })
    const raw = (await (await fetch(`${stack.adapter.baseURL}/models`)).json()) as { data: Array<Record<string, unknown>> }
    const ids = raw.data.map((m) => m.id)
    assert.deepEqual(ids, [...CATALOG_IDS, 'claude-sonnet-4-5', 'claude-haiku-4-5'])
    const sonnet = raw.data.find((m) => m.id === 'claude-sonnet-4-5')!
    assert.equal(sonnet.owned_by, 'xipu-alias')
    assert.equal(sonnet.alias_of, 'claude-3-7-sonnet-20250219')
    assert.equal(sonnet.object, 'model')
    assert.equal(raw.data.find((m) => m.id === 'claude-haiku-4-5')!.multimodal, true, "the platform model's")
    assert.equal(raw.data.filter((m) => m.owned_by === 'xipu').length, CATALOG_IDS.length, 'catalog entries are not marked')

    const retrieved = await stack.openai.models.retrieve('claude-haiku-4-5')
    assert.equal(retrieved.id, 'claude-haiku-4-5')
    assert.equal(retrieved.owned_by, 'xipu-alias')
    assert.equal((retrieved as unknown as { alias_of: string }).alias_of, 'gpt-5.4-mini')
    // A mapped name the catalog holds is shown as the catalog's model.
    assert.equal((await stack.openai.models.retrieve('gpt-4.1')).owned_by, 'xipu')
  })

  test("Anthropic's SDK lists them too (x-api-key), with display_name, as Claude Code's gateway model discovery reads it", async (t) => {
    const stack = await startStack({ stopAfter: t, gapMs: 120, overrides: { ADAPTER_API_KEY: 'models-key', XIPU_MODEL_MAP: 'claude-sonnet-4-5=claude-3-7-sonnet-20250219' } })
    const anthropic = new Anthropic({ baseURL: stack.adapter.url, apiKey: 'models-key', maxRetries: 0 })
    const listed = []
    for await (const model of anthropic.models.list()) listed.push(model)
    assert.deepEqual(
      listed.map((m) => m.id),
      [...CATALOG_IDS, 'claude-sonnet-4-5'],
    )
    assert.equal(listed.find((m) => m.id === 'gpt-5.6-luna')!.display_name, 'GPT-5.6 Luna')
    assert.equal(listed.at(-1)!.display_name, 'claude-sonnet-4-5 → claude-3-7-sonnet-20250219')
    assert.equal((await anthropic.models.retrieve('claude-sonnet-4-5')).display_name, 'claude-sonnet-4-5 → claude-3-7-sonnet-20250219')
  })
})
