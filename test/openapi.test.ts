/**
 * `/openapi.json` is a valid OpenAPI 3.1 document (checked by a real
 * validator, @readme/openapi-parser), describes every route the app serves,
 * and is written from the schemas that validate the requests; `/docs` shows
 * it with Swagger UI served by the adapter itself.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { compileErrors, validate } from '@readme/openapi-parser'
import { startStack } from './support/harness.ts'

interface Document {
  openapi: string
  paths: Record<string, Record<string, { requestBody?: { content: Record<string, { schema: { $ref?: string } }> } }>>
  components: { schemas: Record<string, { properties?: Record<string, unknown>; required?: string[] }> }
}

test('/openapi.json: a valid OpenAPI 3.1 document of every route, from the validating schemas', async (t) => {
  const stack = await startStack({ stopAfter: t, overrides: { ADAPTER_API_KEY: 'sk-openapi-test-key-0123456789' } })
  // The description holds no data: served without the key, like the docs page.
  const response = await fetch(`${stack.adapter.url}/openapi.json`)
  assert.equal(response.status, 200)
  const document = (await response.json()) as Document
  assert.equal(document.openapi, '3.1.0')
  const result = await validate(structuredClone(document) as never)
  assert.ok(result.valid, result.valid ? '' : compileErrors(result))

  const routes = Object.entries(document.paths).flatMap(([path, methods]) => Object.keys(methods).map((m) => `${m.toUpperCase()} ${path}`))
  for (const route of [
    'GET /v1/models',
    'GET /v1/models/{id}',
    'POST /v1/chat/completions',
    'POST /v1/responses',
    'GET /v1/responses/{id}',
    'DELETE /v1/responses/{id}',
    'POST /v1/messages',
    'POST /v1/messages/count_tokens',
    'GET /',
    'GET /health',
    'GET /status.json',
    'GET /openapi.json',
    'GET /docs',
  ]) {
    assert.ok(routes.includes(route), `${route} is described (have: ${routes.join(', ')})`)
  }

  // The request schema is the validator's: its bounds and required fields, not a hand-written copy.
  const chat = document.components.schemas.ChatCompletionRequest!
  assert.deepEqual(chat.required?.sort(), ['messages', 'model'])
  assert.deepEqual(chat.properties?.temperature, { type: ['number', 'null'], minimum: 0, maximum: 2 })
  assert.deepEqual(document.components.schemas.MessagesRequest!.required?.sort(), ['max_tokens', 'messages', 'model'])
  const ref = document.paths['/v1/chat/completions']!.post!.requestBody!.content['application/json']!.schema.$ref
  assert.equal(ref, '#/components/schemas/ChatCompletionRequest')
  // And the adapter refuses what the description says is out of bounds.
  const refused = await stack.postChat({ model: 'gpt-4.1', messages: [{ role: 'user', content: 'Hi' }], temperature: 3 }, { headers: { 'content-type': 'application/json', authorization: 'Bearer sk-openapi-test-key-0123456789' } })
  assert.equal(refused.status, 400)
})

test('/docs: Swagger UI from the adapter itself, no CDN', async (t) => {
  const stack = await startStack({ stopAfter: t })
  const page = await fetch(`${stack.adapter.url}/docs`)
  assert.equal(page.status, 200)
  const html = await page.text()
  const sources = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]!)
  assert.ok(sources.length >= 3)
  for (const source of sources) {
    assert.ok(source.startsWith('/docs/'), `${source} is served locally`)
    const asset = await fetch(`${stack.adapter.url}${source}`)
    assert.equal(asset.status, 200, source)
    assert.ok((await asset.arrayBuffer()).byteLength > 0)
  }
  assert.match(await (await fetch(`${stack.adapter.url}/docs/init.js`)).text(), /url: '\/openapi\.json'/)
  // Only the listed files: no path reaches the file system.
  for (const path of ['/docs/package.json', '/docs/..%2F..%2Fpackage.json', '/docs/index.html']) {
    assert.equal((await fetch(`${stack.adapter.url}${path}`)).status, 404, path)
  }
})
