/**
 * The model list under stress: a client that hangs up while the catalog
 * loads stops only its own wait, and the built-in fallback follows the
 * latest catalog on record.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { BUILTIN_CATALOG } from '../lib/xipu/catalog.ts'
import { startStack } from './support/harness.ts'
import { waitFor } from './support/wait-for.ts'

interface ModelRow {
  id: string
  multimodal: boolean
  source: string
}

async function listModels(url: string, signal?: AbortSignal): Promise<ModelRow[]> {
  const response = await fetch(`${url}/models`, { signal })
  assert.equal(response.status, 200)
  return ((await response.json()) as { data: ModelRow[] }).data
}

test('a client hanging up while the catalog loads does not give the others the built-in list', async (t) => {
  // A wide gap, so that the catalog call waits its turn behind a chat for over a second.
  const stack = await startStack({ stopAfter: t, gapMs: 1500 })
  const chat = stack.openai.chat.completions.create({ model: 'gpt-4.1', messages: [{ role: 'user', content: 'keep the queue busy' }] })
  await waitFor('the chat created its session', () => stack.calls({ endpoint: 'saveSession' }).length > 0)

  const impatient = new AbortController()
  const first = listModels(stack.adapter.baseURL, impatient.signal)
  setTimeout(() => impatient.abort(), 300)
  await assert.rejects(first, { name: 'AbortError' })
  assert.equal(stack.calls({ endpoint: 'config' }).length, 0, 'the catalog call was still waiting for its turn')

  const second = await listModels(stack.adapter.baseURL)
  assert.ok(second.every((m) => m.source === 'platform'), `the platform's catalog, not the fallback: ${second[0]?.source}`)
  assert.ok(second.some((m) => m.id === 'kimi-k2'), 'an id only the simulated catalog has')
  assert.equal(stack.calls({ endpoint: 'config' }).length, 1, 'one catalog call served both')
  await chat
  assert.equal(stack.sim.state.rateLimited, 0)
})

test('the built-in list follows the latest catalog on record', async (t) => {
  const stack = await startStack({ stopAfter: t, gapMs: 100 })
  stack.sim.state.injectFault('config', { kind: 'status', status: 500, times: 100 })
  const models = await listModels(stack.adapter.baseURL)
  assert.ok(models.every((m) => m.source === 'builtin'))
  const ids = models.map((m) => m.id)
  // 2026-10-08, then June 2026 (the protocol document).
  for (const id of ['qwen3.6-27b', 'gpt-5.4-nano', 'gpt-5.6-luna', 'gpt-5.5', 'gpt-5.4', 'DeepSeek-R1', 'DeepSeek-V3.1-W8A8', 'qwen-max']) {
    assert.ok(ids.includes(id), `${id} is in the built-in list`)
  }
  assert.deepEqual(ids, BUILTIN_CATALOG.map((m) => m.id))
  assert.equal(models.find((m) => m.id === 'gpt-5.6-luna')!.multimodal, true, 'the model the live test saw see')
  assert.equal(models.find((m) => m.id === 'gpt-5.4-nano')!.multimodal, false)
})
