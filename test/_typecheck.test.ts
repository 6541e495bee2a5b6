/**
 * The whole repository typechecks (`tsc --noEmit`, strict). A test file of its
 * own rather than a step before the tests: the typecheck is the longest single
 * job of `npm test`, and here it runs beside the other files instead of before
 * them. The leading `_` sorts it first, so it starts at once.
 */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { createRequire } from 'node:module'
import { test } from 'node:test'
import { REPO_ROOT } from './support/processes.ts'

test('tsc --noEmit finds no type error', { timeout: 300_000 }, async () => {
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc')
  const child = spawn(process.execPath, [tsc, '--noEmit', '--pretty', 'false'], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk))
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk))
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on('error', reject)
    child.on('close', resolve)
  })
  assert.equal(code, 0, `tsc --noEmit:\n${output}`)
})
