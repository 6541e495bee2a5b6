/**
 * expire.ts on live, expired, missing and malformed tokens: what it says,
 * its exit codes, its JSON, and that the token and identity stay masked.
 * The tokens come from the simulator's own issuer.
 */
import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { describe, test } from 'node:test'
import { createTokenIssuer } from '../lib/simulator/tokens.ts'
import { runScript } from './support/processes.ts'
import { makeTempDir } from './support/temp-dir.ts'

const HOUR = 3_600_000
const issuer = createTokenIssuer({ ttlMs: HOUR })
const EMAIL = 'alice@student.xjtlu.edu.cn'

function writeToken(envFile: string, token: string): void {
  writeFileSync(envFile, `# mine\nJM_TOKEN=${token}\n`)
}

describe('expire.ts', { concurrency: true }, () => {
  test('a live token: times, hours and minutes left, VALID, exit 0, nothing identifying in full', async (t) => {
    const { envFile } = makeTempDir(t)
    const { jmToken } = issuer.issue('alice', 2.5 * HOUR)
    writeToken(envFile, jmToken)
    const run = await runScript('expire.ts', { envFile })
    assert.equal(run.code, 0, run.output)
    assert.match(run.stdout, /Issued at\s+\S/)
    assert.match(run.stdout, /Expires at\s+\S/)
    assert.match(run.stdout, /Time left\s+2h \d\dm/)
    assert.match(run.stdout, /VALID/)
    assert.match(run.stdout, /extend\.email=a\*\*\*n \(26 chars\)/, 'other claims are listed, masked')
    assert.ok(!run.output.includes(jmToken), 'the token is not printed in full')
    assert.ok(!run.output.includes(jmToken.split('.')[1]!), 'nor its payload')
    assert.ok(!run.output.includes(EMAIL), 'the email is masked')
    assert.ok(!run.output.includes('alice'), 'the account is masked')
  })

  test('an expired token: EXPIRED, says to run auth.ts, exit 1', async (t) => {
    const { envFile } = makeTempDir(t)
    writeToken(envFile, issuer.issue('alice', -2 * HOUR).jmToken)
    const run = await runScript('expire.ts', { envFile })
    assert.equal(run.code, 1, run.output)
    assert.match(run.stdout, /EXPIRED/)
    assert.match(run.stdout, /expired 2h \d\dm ago/)
    assert.match(run.output, /npx tsx auth\.ts/)
  })

  test('no token: exit 2 with a message to run auth.ts', async (t) => {
    const { envFile } = makeTempDir(t)
    writeFileSync(envFile, 'XJTLU_USERNAME=alice\n')
    const run = await runScript('expire.ts', { envFile })
    assert.equal(run.code, 2, run.output)
    assert.match(run.output, /No JM_TOKEN/)
    assert.match(run.output, /npx tsx auth\.ts/)
  })

  test('a malformed token: exit 2 with a message to run auth.ts', async (t) => {
    for (const token of ['not-a-jwt', 'aaaa.bbbb.cccc']) {
      const { envFile } = makeTempDir(t)
      writeToken(envFile, token)
      const run = await runScript('expire.ts', { envFile })
      assert.equal(run.code, 2, `${token}: ${run.output}`)
      assert.match(run.output, /not a JWT/)
      assert.match(run.output, /npx tsx auth\.ts/)
    }
  })

  test('--json: the same facts for scripts, with the same exit codes', async (t) => {
    const { envFile } = makeTempDir(t)
    const { jmToken, expiresAt } = issuer.issue('alice', 3 * HOUR)
    writeToken(envFile, jmToken)
    const live = await runScript('expire.ts', { envFile, args: ['--json'] })
    assert.equal(live.code, 0, live.output)
    const report = JSON.parse(live.stdout) as Record<string, unknown>
    assert.equal(report.valid, true)
    assert.equal(report.expired, false)
    assert.equal(report.expiresAt, expiresAt.toISOString())
    assert.equal(typeof report.msLeft, 'number')
    assert.match(String(report.timeLeft), /^2h \d\dm$/)
    assert.equal((report.claims as Record<string, unknown>)['extend.email'], 'a***n (26 chars)')
    assert.ok(!live.stdout.includes(jmToken))

    writeToken(envFile, issuer.issue('alice', -HOUR).jmToken)
    const expired = await runScript('expire.ts', { envFile, args: ['--json'] })
    assert.equal(expired.code, 1)
    assert.equal((JSON.parse(expired.stdout) as { valid: boolean }).valid, false)

    writeFileSync(envFile, '')
    const missing = await runScript('expire.ts', { envFile, args: ['--json'] })
    assert.equal(missing.code, 2)
    assert.deepEqual((JSON.parse(missing.stdout) as { error: { code: string } }).error.code, 'E_NO_TOKEN')
  })
})
