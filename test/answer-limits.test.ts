/**
 * One request must not take the adapter down: the stop cutter holds back at
 * most the longest stop sequence minus one character, in one place, whatever
 * the pieces; stop sequences and numeric fields are bounded with a clear 400;
 * a JSON body that starts with a UTF-8 byte-order mark is accepted.
 */
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { pathToFileURL } from 'node:url'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { createStopCutter } from '../lib/chat/stop-cutter.ts'
import { startStack, type Stack } from './support/harness.ts'
import { REPO_ROOT } from './support/processes.ts'

const ANSWER_BYTES = 2_000_000
// The heap the child gets: far above what a 2 MB answer needs, far below a copy of the held-back text per piece.
const CHILD_HEAP_MB = 192

/** Runs `script` (an ES module) in a child node with a small heap; resolves with its exit code and output. */
function runWithSmallHeap(script: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [`--max-old-space-size=${CHILD_HEAP_MB}`, '--expose-gc', '--import', 'tsx', '--input-type=module', '-e', script],
      { cwd: REPO_ROOT, maxBuffer: 16 * 1024 * 1024, timeout: 180_000 },
      (error, stdout, stderr) => resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    )
  })
}

describe('the stop cutter over a 2 MB answer', () => {
  test('a 200,000-character stop sequence does not run the process out of memory, and every character comes out once', { timeout: 200_000 }, async (t) => {
    const lib = (path: string) => JSON.stringify(pathToFileURL(join(REPO_ROOT, path)).href)
    // The mapper is used directly: the API refuses such a stop (below), but the cutter must not depend on that.
    const script = `
      import { createAnswerMapper } from ${lib('lib/chat/answer.ts')}
      import { createAnswer } from ${lib('lib/simulator/answers.ts')}
      const answer = createAnswer({ model: 'gpt-4.1', text: 'User:\\n[[sim:long=${ANSWER_BYTES}]] go', history: [], online: false, maxToken: 0, files: [] }).text
      const stop = 'never appears '.repeat(200000 / 14)
      const mapper = createAnswerMapper({ model: 'gpt-4.1', stop: [stop, 'x'.repeat(1000), 'STOP'], prompt: 'p', maxTokens: 0 })
      let relayed = 0, pieces = 0, seed = 7
      for (let i = 0; i < answer.length; pieces++) {
        seed = (seed * 1103515245 + 12345) % 2147483648
        const size = 1 + (seed % 64)
        // Copy each piece, as JSON.parse gives the adapter a fresh string per event.
        const piece = JSON.parse(JSON.stringify(answer.slice(i, i + size)))
        for (const d of mapper.feed({ kind: 'content', text: piece })) relayed += d.content?.length ?? 0
        i += size
      }
      for (const d of mapper.finish().deltas) relayed += d.content?.length ?? 0
      globalThis.gc()
      const heapMiB = process.memoryUsage().heapUsed / 1048576
      console.log(JSON.stringify({ length: answer.length, relayed, kept: mapper.text().content.length, same: mapper.text().content === answer, pieces, heapMiB }))
    `
    const run = await runWithSmallHeap(script)
    assert.equal(run.code, 0, `the child failed (out of memory?): ${run.stderr.slice(-600)}`)
    const result = JSON.parse(run.stdout.trim().split('\n').at(-1)!) as { length: number; relayed: number; kept: number; same: boolean; pieces: number; heapMiB: number }
    t.diagnostic(`${result.length} chars in ${result.pieces} pieces; heap after: ${result.heapMiB.toFixed(1)} MiB`)
    assert.ok(result.length >= ANSWER_BYTES / 3, `answer of ${result.length} chars`)
    assert.equal(result.relayed, result.length)
    assert.equal(result.same, true, 'the relayed text differs from the answer')
    // The answer kept (2 bytes a character at most) plus the stop tables: nowhere near a copy per piece.
    assert.ok(result.heapMiB < 64, `heap after the answer: ${result.heapMiB.toFixed(1)} MiB for ${result.pieces} pieces`)
  })

  test('holds back at most the longest stop minus one character, and cuts across many pieces', () => {
    const stop = 'abcdefghij'
    const cutter = createStopCutter([stop, 'zz'])
    let out = ''
    const text = `${'0123456789'.repeat(50)}abcdefghi`
    for (let i = 0; i < text.length; i++) {
      out += cutter.push(text[i]!).text
      // Everything but the last 9 characters (the longest stop, minus one) is out already.
      assert.equal(out, text.slice(0, Math.max(0, i + 1 - 9)))
    }
    assert.equal(out, text.slice(0, -9))
    const end = cutter.push('j and more')
    assert.deepEqual(end, { text: '', stopped: true, sequence: stop })
  })

  test('the stop sequence that completes first wins, as when a model stops mid-generation', () => {
    const cutter = createStopCutter(['abcdef', 'cd'])
    assert.deepEqual(cutter.push('xxabcdef'), { text: 'xxab', stopped: true, sequence: 'cd' })
  })
})

describe('bounds on the request', () => {
  let stack: Stack
  before(async () => {
    stack = await startStack()
  })
  after(() => stack.close())

  const ask = (extra: Record<string, unknown>) => ({ model: 'gpt-4.1', messages: [{ role: 'user', content: 'bounded' }], ...extra })

  async function assert400(body: unknown, param: string, pattern: RegExp): Promise<void> {
    // An earlier request's session delete may still be on its way.
    await stack.waitForCleanPlatform()
    const before = stack.calls().length
    const response = await stack.postChat(body)
    const parsed = (await response.json()) as { error: { message: string; type: string; param: string | null; code: string | null } }
    assert.equal(response.status, 400, JSON.stringify(parsed))
    assert.equal(parsed.error.type, 'invalid_request_error')
    assert.equal(parsed.error.code, 'invalid_value')
    assert.equal(parsed.error.param, param)
    assert.match(parsed.error.message, pattern)
    assert.deepEqual(stack.calls().slice(before), [], `${JSON.stringify(body).slice(0, 100)} reached the platform`)
  }

  test('stop: at most 4 sequences, each at most 1,000 characters', async () => {
    await assert400(ask({ stop: ['a', 'b', 'c', 'd', 'e'] }), 'stop', /at most 4 stop sequences/)
    await assert400(ask({ stop: ['a', 'b'.repeat(1001)] }), 'stop[1]', /at most 1000 characters.*got 1001/)
    await assert400(ask({ stop: 'x'.repeat(200_000) }), 'stop', /at most 1000 characters/)
    await assert400(ask({ stop: 42 }), 'stop', /string or an array of strings/)
    const reply = await stack.openai.chat.completions.create({ ...ask({}), stop: ['q'.repeat(1000), 'bounded'] } as never)
    assert.equal((reply as { choices: Array<{ message: { content: string }; finish_reason: string }> }).choices[0]!.message.content, 'Echo from gpt-4.1: ')
  })

  test('numeric fields: out-of-range values get 400 naming the field; 1e308 tokens is refused', async () => {
    await assert400(ask({ max_tokens: 1e308 }), 'max_tokens', /at most 2147483647/)
    await assert400(ask({ max_completion_tokens: 1e308 }), 'max_completion_tokens', /at most 2147483647/)
    await assert400(ask({ max_tokens: 2_147_483_648 }), 'max_tokens', /at most/)
    await assert400(ask({ max_tokens: 0 }), 'max_tokens', /./)
    await assert400(ask({ max_tokens: 1.5 }), 'max_tokens', /./)
    for (const field of ['temperature', 'top_p', 'presence_penalty', 'frequency_penalty', 'n']) {
      await assert400(ask({ [field]: 1e308 }), field, /./)
      await assert400(ask({ [field]: -1e308 }), field, /./)
    }
    // JSON's largest number literal (read as Infinity) is no number the adapter takes either.
    await stack.waitForCleanPlatform()
    const before = stack.calls().length
    const response = await stack.postChat(`{"model":"gpt-4.1","messages":[{"role":"user","content":"x"}],"max_tokens":1e999}`)
    assert.equal(response.status, 400)
    assert.deepEqual(stack.calls().slice(before), [])
    const ok = await stack.postChat(ask({ max_tokens: 2_147_483_647, temperature: 2, top_p: 0 }))
    assert.equal(ok.status, 200, await ok.text())
  })

  test('a JSON body that starts with a UTF-8 byte-order mark is accepted', async () => {
    const body = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(JSON.stringify(ask({ messages: [{ role: 'user', content: 'with a BOM' }] })))])
    const response = await fetch(`${stack.adapter.baseURL}/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body })
    const reply = (await response.json()) as { choices: Array<{ message: { content: string } }> }
    assert.equal(response.status, 200, JSON.stringify(reply))
    assert.match(reply.choices[0]!.message.content, /with a BOM/)
  })
})

describe('a long answer with a long stop sequence, end to end', () => {
  test('2 MB streamed with a 1,000-character stop that never comes: all of it arrives, finish "stop"', { timeout: 120_000 }, async (t) => {
    const stack = await startStack({ stopAfter: t })
    const stream = await stack.openai.chat.completions.create({
      model: 'gpt-4.1',
      stream: true,
      stop: ['z'.repeat(1000), 'never appears'],
      messages: [{ role: 'user', content: `[[sim:long=${ANSWER_BYTES}]] go` }],
    })
    let text = ''
    let finish: string | null | undefined
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? ''
      finish = chunk.choices[0]?.finish_reason ?? finish
    }
    assert.ok(Buffer.byteLength(text) >= ANSWER_BYTES, `${Buffer.byteLength(text)} bytes arrived`)
    assert.equal(finish, 'stop')
  })
})
