/**
 * Every top-level script goes through one runner (lib/cli.ts): `--help`, a
 * wrong flag as one clear line plus the usage and exit 2 (no stack trace),
 * advice in the order a user must follow it, and scripts that stay thin.
 */
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, test } from 'node:test'
import { REPO_ROOT, runScript, spawnScript } from './support/processes.ts'
import { makeTempDir } from './support/temp-dir.ts'

const SCRIPTS = ['adapter.ts', 'auth.ts', 'config.ts', 'expire.ts', 'keepalive.ts', 'simulator.ts']
const STACK_LINE = /^\s+at .+:\d+:\d+\)?$/m

/** The lines a failed run printed, without blank ones. */
function _lines(output: string): string[] {
  return output.split('\n').map((l) => l.trim()).filter(Boolean)
}

describe('the script runner', { concurrency: true }, () => {
  for (const script of SCRIPTS) {
    test(`${script} --help prints its usage and flags, exit 0`, async (t) => {
      const { envFile } = makeTempDir(t)
      const run = await runScript(script, { envFile, args: ['--help'] })
      assert.equal(run.code, 0, run.output)
      assert.match(run.stdout, new RegExp(`^Usage: npx tsx ${script.replace('.', '\\.')}`))
      assert.match(run.stdout, /-h, --help +show this help/)
    })
  }

  const wrong: [string, string[], RegExp][] = [
    ['simulator.ts', ['--port', 'abc'], /--port abc is not a port/],
    ['simulator.ts', ['--gap', '1x'], /--gap 1x is not a duration/],
    ['adapter.ts', ['--bogus'], /Unknown flag --bogus\./],
    ['config.ts', ['--username'], /--username needs a value\./],
    ['expire.ts', ['now'], /Unexpected argument now/],
    ['keepalive.ts', ['--once=yes'], /--once takes no value\./],
  ]
  for (const [script, args, message] of wrong) {
    test(`${script} ${args.join(' ')}: one clear line and the usage, exit 2, no stack trace`, async (t) => {
      const { envFile } = makeTempDir(t)
      const run = await runScript(script, { envFile, args })
      assert.equal(run.code, 2, run.output)
      const lines = _lines(run.output)
      assert.equal(lines.length, 2, run.output)
      assert.match(lines[0]!, message)
      assert.match(lines[1]!, new RegExp(`^Usage: npx tsx ${script.replace('.', '\\.')} .*--help for more`))
      assert.doesNotMatch(run.output, STACK_LINE)
    })
  }

  test('nothing configured: the advice is config.ts, then auth.ts', async (t) => {
    const { envFile } = makeTempDir(t)
    const expire = await runScript('expire.ts', { envFile })
    assert.equal(expire.code, 2, expire.output)
    assert.match(expire.output, /npx tsx config\.ts, then npx tsx auth\.ts/)

    const adapter = spawnScript(t, 'adapter.ts', { envFile, env: { PORT: '0', XIPU_STATE_DIR: join(envFile, '..', 'state'), XIPU_API_BASE: 'http://127.0.0.1:9/api', XIPU_CALL_TIMEOUT_MS: '2s', XIPU_MAX_RETRIES: '0' } })
    await adapter.waitForOutput(/Token: +no token: run npx tsx config\.ts, then npx tsx auth\.ts/)
    assert.match(adapter.output(), /requests will fail until you run npx tsx config\.ts, then npx tsx auth\.ts/)
    adapter.child.kill('SIGTERM')
    assert.equal(await adapter.exited, 0, adapter.output())
  })
})

test('every top-level script stays under 60 lines', () => {
  for (const script of SCRIPTS) {
    const lines = readFileSync(join(REPO_ROOT, script), 'utf8').trimEnd().split('\n').length
    assert.ok(lines < 60, `${script} has ${lines} lines`)
  }
})
