/**
 * Images end to end, with the official `openai` SDK (and Anthropic's for
 * /v1/messages): data: and http(s) URLs, checked, uploaded once through the
 * platform's upload call, and passed in the completion's `files`, in order.
 * The simulator keeps what it received: the bytes are compared with what was
 * sent. Refusals happen before anything reaches the platform.
 */
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { dirname, join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import Anthropic from '@anthropic-ai/sdk'
import OpenAI from 'openai'
import { startAdapter } from '../lib/adapter/start.ts'
import { createSolidPng } from '../lib/doctor/png.ts'
import { isAllowedHost, refusedRange } from '../lib/images/address.ts'
import { sniffImage } from '../lib/images/sniff.ts'
import { updateEnvFile } from '../lib/env-file.ts'
import { startStack, type Stack } from './support/harness.ts'

const MAX_BYTES = 4096
const RED = createSolidPng([230, 20, 20])
const BLUE = createSolidPng([20, 20, 230], 40)

let stack: Stack
let images: { url: string; hits: string[]; close: () => Promise<void> }

before(async () => {
  images = await _startImageServer()
  stack = await startStack({
    overrides: {
      XIPU_IMAGE_MAX_BYTES: String(MAX_BYTES),
      // The loopback test server is reached by its address only: "localhost" stays refused.
      XIPU_IMAGE_FETCH_ALLOW: '127.0.0.1',
      XIPU_MAX_RETRIES: '1',
    },
  })
})
after(async () => {
  await stack?.close()
  await images?.close()
})

function _dataUrl(bytes: Uint8Array, type = 'image/png'): string {
  return `data:${type};base64,${Buffer.from(bytes).toString('base64')}`
}

function _sha(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex')
}

/** How the simulated multimodal models describe attached image `n` (lib/simulator/answers.ts). */
function _described(n: number, bytes: Uint8Array): string {
  return `image ${n}: image/png ${bytes.length} bytes sha256 ${_sha(bytes).slice(0, 12)}`
}

function _ask(content: OpenAI.Chat.ChatCompletionContentPart[], model = 'gpt-4.1') {
  return stack.openai.chat.completions.create({ model, messages: [{ role: 'user', content }] })
}

/** The uploads the platform accepted since call `since` (a 429 of the simulator, retried, is not an upload). */
function _uploads(since: number) {
  return stack.calls({ endpoint: 'upload', since }).filter((c) => c.status === 200)
}

/** The uploads the simulator received since call `since`, as the upload call's recorded URLs order them. */
function _completionFiles(since: number): string[][] {
  return stack.calls({ endpoint: 'completions', since }).map((c) => (c.body as { files: string[] }).files)
}

async function _rejects(promise: Promise<unknown>, status: number, message: RegExp): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof OpenAI.APIError, String(error))
    assert.equal(error.status, status, error.message)
    assert.match(error.message, message)
    return true
  })
}

/** The index of the next platform call, once the deletes of earlier requests are done. */
async function _settled(): Promise<number> {
  await stack.waitForCleanPlatform()
  return stack.calls().length
}

/** Asserts that nothing but the catalog read reached the platform since call `since`. */
function _nothingSent(since: number): void {
  const sent = stack.calls({ since }).filter((c) => c.endpoint !== 'config')
  assert.deepEqual(
    sent.map((c) => c.endpoint),
    [],
    'no upload, no session, no completion',
  )
}

describe('chat completions with images', () => {
  test('one image: uploaded as sent (bytes compared), passed in files, marked [Image 1] in the prompt', async () => {
    const since = stack.calls().length
    const reply = await _ask([
      { type: 'text', text: 'What is in this picture?' },
      { type: 'image_url', image_url: { url: _dataUrl(RED), detail: 'low' } },
    ])
    assert.match(reply.choices[0]!.message.content ?? '', new RegExp(_described(1, RED)))
    const uploads = _uploads(since)
    assert.equal(uploads.length, 1)
    // Through the one client: the platform's headers and pacing.
    assert.ok(uploads[0]!.headers['jm-token'])
    assert.match(uploads[0]!.headers['content-type'] ?? '', /^multipart\/form-data; boundary=/)
    const [files] = _completionFiles(since)
    assert.equal(files?.length, 1)
    const kept = stack.sim.state.uploads.get(files![0]!)
    assert.ok(kept, 'the completion names the uploaded file')
    assert.deepEqual(Buffer.from(kept.bytes), RED)
    assert.equal(kept.sha256, _sha(RED))
    assert.equal(kept.type, 'image/png')
    assert.equal(kept.lang, 'en')
    // The simulated file host serves it back, as the university's would.
    assert.deepEqual(Buffer.from(await (await fetch(files![0]!)).arrayBuffer()), RED)
    const text = (stack.calls({ endpoint: 'completions', since })[0]!.body as { text: string }).text
    assert.equal(text, 'User:\nWhat is in this picture?\n[Image 1]')
    await stack.waitForCleanPlatform()
  })

  test('two images keep their order, in files and in the prompt', async () => {
    const since = stack.calls().length
    const reply = await _ask([
      { type: 'text', text: 'Compare' },
      { type: 'image_url', image_url: { url: _dataUrl(BLUE) } },
      { type: 'text', text: 'with' },
      { type: 'image_url', image_url: { url: _dataUrl(RED) } },
    ])
    const content = reply.choices[0]!.message.content ?? ''
    assert.match(content, new RegExp(`${_described(1, BLUE)}, ${_described(2, RED)}`))
    const [files] = _completionFiles(since)
    assert.deepEqual(
      files!.map((f) => Buffer.from(stack.sim.state.uploads.get(f)!.bytes)),
      [BLUE, RED],
    )
    const text = (stack.calls({ endpoint: 'completions', since })[0]!.body as { text: string }).text
    assert.equal(text, 'User:\nCompare\n[Image 1]\nwith\n[Image 2]')
  })

  test('streaming: the images are checked and uploaded before the stream starts', async () => {
    const since = await _settled()
    const stream = await stack.openai.chat.completions.create({
      model: 'gpt-5.6-luna',
      stream: true,
      messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: _dataUrl(RED) } }, { type: 'text', text: 'Stream it' }] }],
    })
    let text = ''
    for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? ''
    assert.match(text, new RegExp(_described(1, RED)))
    // A refusal is still a proper HTTP status, not an error inside a stream.
    await _rejects(
      stack.openai.chat.completions.create({ model: 'qwen3.6-27b', stream: true, messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: _dataUrl(RED) } }] }] }),
      400,
      /'qwen3\.6-27b' does not take images/,
    )
    assert.equal(stack.calls({ endpoint: 'completions', since }).length, 1)
  })

  test('the same image again is not uploaded again, also after a restart with the same state folder', async () => {
    const image = createSolidPng([20, 200, 20], 24)
    const since = stack.calls().length
    await _ask([{ type: 'text', text: 'first' }, { type: 'image_url', image_url: { url: _dataUrl(image) } }])
    const again = await stack.openai.chat.completions.create({
      model: 'gpt-4.1',
      messages: [
        { role: 'user', content: [{ type: 'text', text: 'first' }, { type: 'image_url', image_url: { url: _dataUrl(image) } }] },
        { role: 'assistant', content: 'A green square.' },
        { role: 'user', content: 'And again?' },
      ],
    })
    assert.match(again.choices[0]!.message.content ?? '', new RegExp(_described(1, image)))
    assert.equal(_uploads(since).length, 1, 'one upload for two requests')

    // A second adapter on the same .env and state folder: the cache on disk is read.
    const restarted = await startAdapter({
      port: 0,
      envFile: stack.envFile,
      env: {},
      overrides: { XIPU_STATE_DIR: join(dirname(stack.envFile), 'state'), XIPU_MIN_GAP_MS: String(stack.gapMs), XIPU_PREPARE_SESSION: '0' },
    })
    try {
      const client = new OpenAI({ baseURL: restarted.baseURL, apiKey: 'unused', maxRetries: 0 })
      const reply = await client.chat.completions.create({ model: 'gpt-4.1', messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: _dataUrl(image) } }] }] })
      assert.match(reply.choices[0]!.message.content ?? '', new RegExp(_described(1, image)))
    } finally {
      await restarted.close(2000)
    }
    assert.equal(_uploads(since).length, 1, 'still one upload after the restart')
  })

  test('requests at the same time with the same new image share one upload', async () => {
    const since = await _settled()
    const image = createSolidPng([33, 66, 99], 22)
    const replies = await Promise.all([1, 2, 3].map((n) => _ask([{ type: 'text', text: `copy ${n}` }, { type: 'image_url', image_url: { url: _dataUrl(image) } }])))
    for (const reply of replies) assert.match(reply.choices[0]!.message.content ?? '', new RegExp(_described(1, image)))
    assert.equal(_uploads(since).length, 1)
  })

  test('a URL already on the platform file host is passed on without a download or an upload', async () => {
    const since = stack.calls().length
    // Uploaded now, or taken from the cache when an earlier test uploaded it.
    await _ask([{ type: 'image_url', image_url: { url: _dataUrl(BLUE) } }])
    const [[uploaded]] = _completionFiles(since) as [[string]]
    const passedOn = stack.calls().length
    const reply = await _ask([{ type: 'text', text: 'This one' }, { type: 'image_url', image_url: { url: uploaded } }])
    assert.match(reply.choices[0]!.message.content ?? '', new RegExp(_described(1, BLUE)))
    assert.deepEqual(_completionFiles(passedOn), [[uploaded]])
    assert.equal(_uploads(passedOn).length, 0, 'the URL on the platform file host went on as it was: no upload')
  })

  test('a text-only model: 400 naming it and the models that take images, before any upload', async () => {
    const since = await _settled()
    await _rejects(_ask([{ type: 'image_url', image_url: { url: _dataUrl(createSolidPng([1, 2, 3])) } }], 'gpt-5.4-nano'), 400, /'gpt-5\.4-nano' does not take images.*Models that take images: gpt-5\.6-luna, gpt-5\.4, gpt-5\.4-mini, gpt-4\.1/)
    await _rejects(_ask([{ type: 'image_url', image_url: { url: _dataUrl(createSolidPng([1, 2, 3])) } }], 'gpt-4.1-nano:online'), 400, /The model 'gpt-4\.1-nano' does not take images/)
    _nothingSent(since)
  })

  test('bytes that are no image (whatever the declared type): 400, before any upload', async () => {
    const since = await _settled()
    const text = Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"/>')
    await _rejects(_ask([{ type: 'text', text: 'ok' }, { type: 'image_url', image_url: { url: _dataUrl(text) } }]), 400, /Image 1 \(messages\[0\]\.content\[1\]\) is not a PNG, JPEG, GIF or WebP image by its content \(declared image\/png\)/)
    _nothingSent(since)
  })

  test('an image over XIPU_IMAGE_MAX_BYTES: 413, and a valid image before it is not uploaded either', async () => {
    const since = await _settled()
    const big = Buffer.concat([createSolidPng([9, 9, 9]), Buffer.alloc(MAX_BYTES)])
    await _rejects(_ask([{ type: 'image_url', image_url: { url: _dataUrl(createSolidPng([8, 8, 8])) } }, { type: 'image_url', image_url: { url: _dataUrl(big) } }]), 413, /Image 2 .* over XIPU_IMAGE_MAX_BYTES \(4096\)/)
    _nothingSent(since)
  })

  test('more than XIPU_IMAGE_MAX_COUNT (8) images: 400', async () => {
    const since = await _settled()
    const part = { type: 'image_url' as const, image_url: { url: _dataUrl(RED) } }
    await _rejects(_ask(Array.from({ length: 9 }, () => part)), 400, /holds 9 images\. At most 8/)
    _nothingSent(since)
  })

  test('an http image URL on an allowed host is fetched, checked and uploaded as fetched', async () => {
    const since = stack.calls().length
    const reply = await _ask([{ type: 'image_url', image_url: { url: `${images.url}/blue.png?sig=secret` } }])
    assert.match(reply.choices[0]!.message.content ?? '', new RegExp(_described(1, BLUE)))
    const [files] = _completionFiles(since)
    assert.deepEqual(Buffer.from(stack.sim.state.uploads.get(files![0]!)?.bytes ?? []), BLUE)
    // What the host sends is checked like any image: a page is no image, a 404 is no image either.
    const before = await _settled()
    await _rejects(_ask([{ type: 'image_url', image_url: { url: `${images.url}/page.png` } }]), 400, /Image 1 \(messages\[0\]\.content\[0\]\) is not a PNG, JPEG, GIF or WebP image by its content\.$/)
    await _rejects(_ask([{ type: 'image_url', image_url: { url: `${images.url}/missing.png?token=secret` } }]), 400, /answered HTTP 404/)
    // The URL's query (it may hold a token) is never quoted back.
    await _rejects(_ask([{ type: 'image_url', image_url: { url: `${images.url}/missing.png?token=secret` } }]), 400, /^(?![\s\S]*secret)/)
    _nothingSent(before)
  })

  test('a loopback URL is refused without any request to it', async () => {
    const since = await _settled()
    images.hits.length = 0
    const port = new URL(images.url).port
    await _rejects(_ask([{ type: 'image_url', image_url: { url: `http://localhost:${port}/blue.png` } }]), 400, /a loopback address .*only from public addresses.*XIPU_IMAGE_FETCH_PRIVATE=1/)
    await _rejects(_ask([{ type: 'image_url', image_url: { url: `http://[::1]:${port}/blue.png` } }]), 400, /loopback/)
    assert.deepEqual(images.hits, [], 'the server was never reached')
    _nothingSent(since)
  })

  test('a redirect to a private address is refused at that hop', async () => {
    const since = await _settled()
    images.hits.length = 0
    const port = new URL(images.url).port
    const redirect = `${images.url}/redirect?to=${encodeURIComponent(`http://localhost:${port}/blue.png`)}`
    await _rejects(_ask([{ type: 'image_url', image_url: { url: redirect } }]), 400, /leads to http:\/\/localhost:\d+\/blue\.png, a loopback address/)
    assert.deepEqual(images.hits, ['/redirect'], 'the redirect target was never requested')
    _nothingSent(since)
  })

  test('three redirects are followed, a fourth is refused', async () => {
    const hops = (n: number): string => (n === 0 ? `${images.url}/blue.png` : `${images.url}/redirect?to=${encodeURIComponent(hops(n - 1))}`)
    const reply = await _ask([{ type: 'image_url', image_url: { url: hops(3) } }])
    assert.match(reply.choices[0]!.message.content ?? '', new RegExp(_described(1, BLUE)))
    const since = await _settled()
    await _rejects(_ask([{ type: 'image_url', image_url: { url: hops(4) } }]), 400, /redirects more than 3 times/)
    _nothingSent(since)
  })

  test('an endless image body is cut at the limit: 413', async () => {
    const since = await _settled()
    await _rejects(_ask([{ type: 'image_url', image_url: { url: `${images.url}/endless.png` } }]), 413, /larger than XIPU_IMAGE_MAX_BYTES/)
    _nothingSent(since)
  })

  test('an image host that stalls mid-body: 400 after XIPU_IMAGE_FETCH_TIMEOUT (read from .env as it changes)', async () => {
    const since = await _settled()
    updateEnvFile(stack.envFile, { XIPU_IMAGE_FETCH_TIMEOUT: '500ms' })
    try {
      await _rejects(_ask([{ type: 'image_url', image_url: { url: `${images.url}/stall.png` } }]), 400, /took longer than XIPU_IMAGE_FETCH_TIMEOUT \(500 ms\)/)
    } finally {
      updateEnvFile(stack.envFile, { XIPU_IMAGE_FETCH_TIMEOUT: '' })
    }
    _nothingSent(since)
  })

  test('an upload that fails after its retries: 502 naming the upload, no session created, nothing left', async () => {
    const since = stack.calls().length
    // XIPU_MAX_RETRIES=1: two attempts, both refused.
    stack.sim.state.injectFault('upload', { kind: 'status', status: 500, times: 2 })
    try {
      await _rejects(_ask([{ type: 'image_url', image_url: { url: _dataUrl(createSolidPng([50, 60, 70])) } }]), 502, /upload of image 1 of 1 .*failed: .*HTTP 500/)
    } finally {
      // A 429 in between (a loaded machine) would leave a fault for the next test.
      while (stack.sim.state.takeFault('upload'));
    }
    // Two attempts (XIPU_MAX_RETRIES=1), and nothing after them: no session, no completion.
    const sent = stack.calls({ since }).filter((c) => c.endpoint !== 'config')
    assert.deepEqual(
      sent.map((c) => c.endpoint),
      ['upload', 'upload'],
    )
    assert.equal(sent[1]!.status, 500)
    await stack.waitForCleanPlatform()
    assert.equal(stack.calls({ since, endpoint: 'saveSession' }).length, 0, 'no session created')
  })

  test('an upload still refused as too fast after its retries: 429 with Retry-After, naming the upload', async () => {
    const since = stack.calls().length
    stack.sim.state.injectFault('upload', { kind: 'status', status: 429, message: 'Request too fast', times: 2 })
    try {
      await assert.rejects(_ask([{ type: 'image_url', image_url: { url: _dataUrl(createSolidPng([80, 90, 100])) } }]), (error: unknown) => {
        assert.ok(error instanceof OpenAI.APIError, String(error))
        assert.equal(error.status, 429, error.message)
        assert.equal(error.code, 'rate_limit_exceeded')
        assert.ok(Number(error.headers?.get('retry-after')) >= 1, 'Retry-After is set')
        assert.match(error.message, /upload of image 1 of 1 .*failed: .*HTTP 429/)
        return true
      })
    } finally {
      while (stack.sim.state.takeFault('upload'));
    }
    await stack.waitForCleanPlatform()
    assert.equal(stack.calls({ since, endpoint: 'saveSession' }).length, 0, 'no session created')
    assert.equal(stack.calls({ since, endpoint: 'completions' }).length, 0, 'no completion sent')
  })
})

describe('the other APIs take images through the same path', () => {
  test('/v1/responses input_image', async () => {
    const since = stack.calls().length
    const image = createSolidPng([120, 10, 200], 20)
    const reply = await stack.openai.responses.create({
      model: 'gpt-4.1',
      input: [{ role: 'user', content: [{ type: 'input_text', text: 'Describe' }, { type: 'input_image', image_url: _dataUrl(image), detail: 'auto' }] }],
    })
    assert.match(reply.output_text, new RegExp(_described(1, image)))
    const [files] = _completionFiles(since)
    assert.deepEqual(Buffer.from(stack.sim.state.uploads.get(files![0]!)!.bytes), image)
    // A refusal names the image where the client put it (input[1].content[1], after the instructions' message).
    const refused = stack.openai.responses.create({
      model: 'gpt-4.1',
      instructions: 'Be brief.',
      input: [
        { role: 'user', content: 'Hello' },
        { role: 'user', content: [{ type: 'input_text', text: 'This' }, { type: 'input_image', image_url: _dataUrl(Buffer.from('GIF88a not really')), detail: 'auto' }] },
      ],
    })
    await assert.rejects(refused, (error: unknown) => {
      assert.ok(error instanceof OpenAI.APIError)
      assert.equal(error.status, 400)
      assert.match(error.message, /Image 1 \(input\[1\]\.content\[1\]\) is not a PNG/)
      assert.equal((error.error as { param?: string }).param, 'input[1].content[1]')
      return true
    })
  })

  test('/v1/messages image blocks, base64 and url sources', async () => {
    const since = stack.calls().length
    const image = createSolidPng([200, 120, 10], 20)
    const anthropic = new Anthropic({ baseURL: stack.adapter.url, apiKey: 'unused', maxRetries: 0 })
    const reply = await anthropic.messages.create({
      model: 'gpt-4.1',
      max_tokens: 100,
      messages: [
        {
          role: 'user',
          content: [
            { type: 'image', source: { type: 'base64', media_type: 'image/png', data: Buffer.from(image).toString('base64') } },
            { type: 'image', source: { type: 'url', url: `${images.url}/blue.png` } },
            { type: 'text', text: 'Which is which?' },
          ],
        },
      ],
    })
    const text = reply.content.map((b) => (b.type === 'text' ? b.text : '')).join('')
    assert.match(text, new RegExp(`${_described(1, image)}, ${_described(2, BLUE)}`))
    const [files] = _completionFiles(since)
    assert.deepEqual(files!.map((f) => Buffer.from(stack.sim.state.uploads.get(f)!.bytes)), [image, BLUE])
    const prompt = (stack.calls({ endpoint: 'completions', since })[0]!.body as { text: string }).text
    assert.match(prompt, /\[Image 1\]\n\[Image 2\]\nWhich is which\?/)
  })

  test('images in tool results (Claude Code reading an image file, a Responses function_call_output) reach the model too', async () => {
    const since = await _settled()
    const image = createSolidPng([10, 200, 200], 18)
    const anthropic = new Anthropic({ baseURL: stack.adapter.url, apiKey: 'unused', maxRetries: 0 })
    const reply = await anthropic.messages.create({
      model: 'gpt-4.1',
      max_tokens: 100,
      tools: [{ name: 'Read', description: 'Reads a file', input_schema: { type: 'object', properties: { file_path: { type: 'string' } } } }],
      messages: [
        { role: 'user', content: 'Look at shot.png' },
        { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_01', name: 'Read', input: { file_path: 'shot.png' } }] },
        {
          role: 'user',
          content: [
            { type: 'tool_result', tool_use_id: 'toolu_01', content: [{ type: 'text', text: 'shot.png:' }, { type: 'image', source: { type: 'base64', media_type: 'image/png', data: Buffer.from(image).toString('base64') } }] },
            { type: 'text', text: 'What is it?' },
          ],
        },
      ],
    })
    assert.match(reply.content.map((b) => (b.type === 'text' ? b.text : '')).join(''), new RegExp(_described(1, image)))
    const prompt = (stack.calls({ endpoint: 'completions', since })[0]!.body as { text: string }).text
    assert.match(prompt, /<tool_response [^>]*>\nshot\.png:\n\[Image 1\]\n<\/tool_response>/)

    const response = await stack.openai.responses.create({
      model: 'gpt-4.1',
      tools: [{ type: 'function', name: 'view_image', parameters: { type: 'object', properties: {} }, strict: false }],
      input: [
        { role: 'user', content: 'Show me' },
        { type: 'function_call', call_id: 'call_1', name: 'view_image', arguments: '{}' },
        // The API takes content items as output; this SDK version types it as a string only.
        { type: 'function_call_output', call_id: 'call_1', output: [{ type: 'input_image', image_url: _dataUrl(image), detail: 'auto' }] as unknown as string },
      ],
    })
    assert.match(response.output_text, /From the tools: view_image → \[Image 1\]/)
    const files = _completionFiles(since)
    assert.equal(files.length, 2)
    assert.deepEqual(files[1], files[0], 'the same image, the same URL')
    assert.deepEqual(Buffer.from(stack.sim.state.uploads.get(files[1]![0]!)!.bytes), image)
    assert.equal(_uploads(since).length, 1, 'the same image: one upload')
  })
})

describe('what may be fetched, and what counts as an image', () => {
  test('only public unicast addresses, unless private ones are allowed; never unspecified or multicast', () => {
    const refused: Record<string, string> = {
      '127.0.0.1': 'loopback',
      '10.1.2.3': 'private',
      '172.16.0.1': 'private',
      '192.168.1.1': 'private',
      '169.254.169.254': 'linkLocal',
      '100.64.0.1': 'carrierGradeNat',
      '0.0.0.0': 'unspecified',
      '::1': 'loopback',
      '[::1]': 'loopback',
      'fe80::1': 'linkLocal',
      'fd00::1': 'uniqueLocal',
      '::ffff:10.0.0.1': 'private',
      '64:ff9b::a00:1': 'rfc6052',
      '224.0.0.1': 'multicast',
    }
    for (const [ip, range] of Object.entries(refused)) assert.equal(refusedRange(ip, { allowPrivate: false }), range, ip)
    for (const ip of ['93.184.216.34', '2606:2800:220:1:248:1893:25c8:1946']) assert.equal(refusedRange(ip, { allowPrivate: false }), undefined, ip)
    for (const ip of ['127.0.0.1', '10.1.2.3', 'fd00::1', '169.254.169.254']) assert.equal(refusedRange(ip, { allowPrivate: true }), undefined, ip)
    for (const ip of ['0.0.0.0', '224.0.0.1', 'ff02::1']) assert.notEqual(refusedRange(ip, { allowPrivate: true }), undefined, ip)
    assert.ok(isAllowedHost('Intranet.Example.edu.', ['intranet.example.edu']))
    assert.ok(isAllowedHost('[::ffff:127.0.0.1]', ['127.0.0.1']))
    assert.ok(!isAllowedHost('localhost', ['127.0.0.1']))
  })

  test('the format is read from the magic bytes', () => {
    const ascii = (text: string) => new Uint8Array(Buffer.from(text, 'latin1'))
    assert.equal(sniffImage(RED)?.mediaType, 'image/png')
    assert.equal(sniffImage(new Uint8Array([0xff, 0xd8, 0xff, 0xe0, 0, 0x10]))?.mediaType, 'image/jpeg')
    assert.equal(sniffImage(ascii('GIF89a\x01\x00'))?.mediaType, 'image/gif')
    assert.equal(sniffImage(ascii('RIFF\x24\x00\x00\x00WEBPVP8 '))?.mediaType, 'image/webp')
    for (const bytes of [ascii('RIFF\x24\x00\x00\x00WAVEfmt '), ascii('<svg/>'), ascii('%PDF-1.7'), new Uint8Array([0x89, 0x50, 0x4e]), new Uint8Array()]) {
      assert.equal(sniffImage(bytes), undefined)
    }
  })
})

/** A local image host: `/blue.png`, `/redirect?to=…`, `/endless.png` (never ends); records the paths it was asked for. */
async function _startImageServer(): Promise<{ url: string; hits: string[]; close: () => Promise<void> }> {
  const hits: string[] = []
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x')
    hits.push(url.pathname)
    if (url.pathname === '/blue.png') {
      res.writeHead(200, { 'content-type': 'image/png' }).end(BLUE)
    } else if (url.pathname === '/redirect') {
      res.writeHead(302, { location: url.searchParams.get('to') ?? '/' }).end()
    } else if (url.pathname === '/page.png') {
      // Declared an image, but a web page.
      res.writeHead(200, { 'content-type': 'image/png' }).end('<!doctype html><title>Sign in</title>')
    } else if (url.pathname === '/stall.png') {
      // Part of an image, then nothing: the connection stays open until the client gives up.
      res.writeHead(200, { 'content-type': 'image/png', 'content-length': String(BLUE.length) })
      res.write(BLUE.subarray(0, 16))
    } else if (url.pathname === '/endless.png') {
      res.writeHead(200, { 'content-type': 'image/png' })
      res.write(RED)
      const timer = setInterval(() => res.write(Buffer.alloc(1024)), 5)
      res.on('close', () => clearInterval(timer))
    } else {
      res.writeHead(404).end()
    }
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    hits,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}
