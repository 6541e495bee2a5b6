/**
 * A request cannot forge log lines or send terminal escapes: control
 * characters in logged fields (a model name, a platform message) are
 * escaped on the console and in the log file, while our own multi-line
 * boxes keep their lines.
 */
import assert from 'node:assert/strict'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import { createLogger, escapeLogField, setLogFile, setLogLevel } from '../lib/log.ts'
import { spawnAdapter, startSimulatorForProcess, waitForHealth } from './support/processes.ts'
import { makeTempDir } from './support/temp-dir.ts'
import { waitFor } from './support/wait-for.ts'

const FORGED = 'gpt-4.1\n[FAKE] POST /v1/chat/completions admin → 200\r\x1b[31mred\x1b[0m\x07\u202e'

/** Lines that start a log entry with the forged text, or that carry a raw control character. */
function findForgeries(text: string): string[] {
  return text.split('\n').filter((line) => /^\s{0,3}\[FAKE\]/.test(line.replace(/^\S+ \w+ \[adapter\] /, '')) || /[\x00-\x08\x0b-\x1f\x7f\u202e]/.test(line.replace(/\x1b\[[0-9;]*m/g, '')))
}

test('escapeLogField writes every control character, newline included, as its escape', () => {
  assert.equal(escapeLogField(FORGED), 'gpt-4.1\\n[FAKE] POST /v1/chat/completions admin → 200\\r\\x1b[31mred\\x1b[0m\\x07\\u202e')
  assert.equal(escapeLogField('tab\tand 你好🌏'), 'tab\tand 你好🌏')
})

test('the logging layer: escapes in any message, further lines indented; boxes keep their lines', (t) => {
  const { dir } = makeTempDir(t)
  const file = join(dir, 'layer.log')
  setLogFile(file)
  setLogLevel(3)
  try {
    const log = createLogger('adapter')
    log.info(`Unknown model ${FORGED} asked`)
    log.warn(new Error(`platform said ${FORGED}`))
    log.box('xipu-openai\nOpenAI base URL: http://127.0.0.1:8000/v1')
  } finally {
    setLogLevel(Number(process.env.XIPU_LOG_LEVEL ?? 0))
    setLogFile(undefined)
  }
  const text = readFileSync(file, 'utf8')
  assert.deepEqual(findForgeries(text), [], text)
  assert.match(text, /\\x1b\[31mred\\x1b\[0m\\x07\\u202e/)
  assert.match(text, /\n {4}\[FAKE\] POST/, 'a line break inside an entry is kept, indented')
  assert.match(text, /xipu-openai\nOpenAI base URL: http:\/\/127\.0\.0\.1:8000\/v1\n/, 'the box lost its lines')
})

test('a spawned adapter: a forged model name and platform message stay inside their request line, on the console and in the file', { timeout: 90_000 }, async (t) => {
  const { sim, dir, env } = await startSimulatorForProcess(t, { minGapMs: 100 })
  const logFile = join(dir, 'adapter.log')
  const proc = await spawnAdapter(t, { ...env, XIPU_MIN_GAP_MS: '100', XIPU_LOG_FILE: logFile, XIPU_LOG_LEVEL: '3' }, dir)
  await waitForHealth(proc)
  const post = (model: string) =>
    fetch(`${proc.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }] }) })

  const ok = await post(FORGED)
  assert.equal(ok.status, 200, await ok.text())
  sim.state.injectFault('completions', { kind: 'status', status: 500, times: 10, message: `upstream\n[FAKE] all good\x1b[2J\x07` })
  const failed = await post('gpt-4.1')
  assert.equal(failed.status, 502)
  await failed.text()
  await waitFor('both request lines in the log', () => existsSync(logFile) && (readFileSync(logFile, 'utf8').match(/POST \/v1\/chat\/completions/g) ?? []).length >= 2)
  proc.child.kill('SIGTERM')
  await proc.exited

  for (const [where, text] of [
    ['the log file', readFileSync(logFile, 'utf8')],
    ['the console', proc.output()],
  ] as const) {
    assert.deepEqual(findForgeries(text), [], `${where}:\n${text}`)
    assert.match(text, /POST \/v1\/chat\/completions gpt-4\.1\\n\[FAKE\] POST \/v1\/chat\/completions admin → 200\\r\\x1b\[31mred/, `${where}: the model name is not escaped`)
    assert.match(text, /upstream\\n\[FAKE\] all good\\x1b\[2J\\x07/, `${where}: the platform message is not escaped`)
  }
})
