/**
 * The JSON body reader every route uses, in process (`app.request()`, no
 * socket): 413 with our message before the body is all read (chunked too),
 * a byte-order mark accepted, empty and broken bodies named.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { H3 } from 'h3'
import { readJsonBody } from '../lib/adapter/read-body.ts'
import { toOpenAIErrorResponse } from '../lib/openai/errors.ts'

const LIMIT = 100
const app = new H3().post('/', async (event) => {
  try {
    return { body: await readJsonBody(event, LIMIT) }
  } catch (error) {
    return toOpenAIErrorResponse(error)
  }
})

async function send(init: RequestInit): Promise<{ status: number; json: { body?: unknown; error?: { message: string; code: string; param: string | null } } }> {
  const response = await app.request('/', { method: 'POST', ...init })
  return { status: response.status, json: (await response.json()) as never }
}

test('a JSON body is read, with or without a UTF-8 byte-order mark, whatever the content type says', async () => {
  assert.deepEqual((await send({ body: '{"a":1}', headers: { 'content-type': 'application/json' } })).json.body, { a: 1 })
  const bom = new Uint8Array([0xef, 0xbb, 0xbf, ...new TextEncoder().encode('{"a":2}')])
  assert.deepEqual((await send({ body: bom })).json.body, { a: 2 })
  assert.deepEqual((await send({ body: '{"a":3}', headers: { 'content-type': 'application/x-www-form-urlencoded' } })).json.body, { a: 3 })
})

test('an empty or broken body is a 400 naming the body', async () => {
  const empty = await send({ body: '' })
  assert.equal(empty.status, 400)
  assert.match(empty.json.error!.message, /empty/)
  assert.equal(empty.json.error!.param, 'body')
  const broken = await send({ body: '{"model": ' })
  assert.equal(broken.status, 400)
  assert.match(broken.json.error!.message, /not valid JSON/)
})

test('over the limit: 413 with our message, by Content-Length or while a chunked body streams in', async () => {
  const declared = await send({ body: JSON.stringify({ text: 'x'.repeat(LIMIT) }) })
  assert.equal(declared.status, 413)
  assert.equal(declared.json.error!.code, 'request_too_large')
  assert.match(declared.json.error!.message, /over the limit of 100 bytes \(XIPU_BODY_LIMIT\)/)

  let pulls = 0
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      // Endless: only a reader that stops at the limit ends this request.
      pulls++
      controller.enqueue(new TextEncoder().encode('x'.repeat(40)))
    },
  })
  const chunked = await send({ body, duplex: 'half' } as RequestInit)
  assert.equal(chunked.status, 413)
  assert.match(chunked.json.error!.message, /XIPU_BODY_LIMIT/)
  assert.ok(pulls < 10, `read ${pulls} pieces of an endless body`)
})
