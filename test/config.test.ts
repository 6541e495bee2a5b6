/**
 * config.ts for scripts (`--username NAME --password-stdin`): what it writes,
 * what it keeps, what it refuses, and that the password never shows.
 */
import assert from 'node:assert/strict'
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { describe, test } from 'node:test'
import { readEnvFile } from '../lib/env-file.ts'
import { runScript } from './support/processes.ts'
import { makeTempDir } from './support/temp-dir.ts'

// Spaces, a #, quotes and a backslash: everything that needs quoting.
const PASSWORD = 'p@ss w#rd "1\' \\x'

describe('config.ts', { concurrency: true }, () => {
  test('saves the username and password, keeping every other line, mode 0600, never printing the password', async (t) => {
    const { envFile } = makeTempDir(t)
    writeFileSync(envFile, '# mine\nPORT=9000\n\nXJTLU_USERNAME=old\n')
    const run = await runScript('config.ts', { envFile, args: ['--username', 'alice', '--password-stdin'], input: `${PASSWORD}\n` })
    assert.equal(run.code, 0, run.output)
    assert.deepEqual(readEnvFile(envFile), { PORT: '9000', XJTLU_USERNAME: 'alice', XJTLU_PASSWORD: PASSWORD })
    assert.match(readFileSync(envFile, 'utf8'), /^# mine\nPORT=9000\n\nXJTLU_USERNAME=alice\nXJTLU_PASSWORD="/)
    if (process.platform !== 'win32') assert.equal(statSync(envFile).mode & 0o777, 0o600)
    assert.ok(!run.output.includes(PASSWORD), 'the password is not printed')
    assert.ok(!run.output.includes('w#rd'), 'no part of the password is printed')
    assert.match(run.output, /auth\.ts/, 'it says what to do next')
  })

  test('creates .env when it does not exist yet', async (t) => {
    const { envFile } = makeTempDir(t)
    const run = await runScript('config.ts', { envFile, args: ['--username', 'bob', '--password-stdin'], input: 'hunter2-long' })
    assert.equal(run.code, 0, run.output)
    assert.deepEqual(readEnvFile(envFile), { XJTLU_USERNAME: 'bob', XJTLU_PASSWORD: 'hunter2-long' })
  })

  test('refuses an empty password with a clear message and writes nothing', async (t) => {
    const { envFile } = makeTempDir(t)
    const before = '# keep me\nXJTLU_USERNAME=alice\nXJTLU_PASSWORD=previous-secret\n'
    writeFileSync(envFile, before)
    const run = await runScript('config.ts', { envFile, args: ['--username', 'alice', '--password-stdin'], input: '\n' })
    assert.notEqual(run.code, 0)
    assert.match(run.output, /password is empty/i)
    assert.equal(readFileSync(envFile, 'utf8'), before)
  })

  test('refuses an empty username and writes nothing', async (t) => {
    const { envFile } = makeTempDir(t)
    const run = await runScript('config.ts', { envFile, args: ['--username', '  ', '--password-stdin'], input: 'secret-pass' })
    assert.notEqual(run.code, 0)
    assert.match(run.output, /username is empty/i)
    assert.equal(existsSync(envFile), false)
  })

  test('--password-stdin without --username uses the saved username', async (t) => {
    const { envFile } = makeTempDir(t)
    writeFileSync(envFile, 'XJTLU_USERNAME=carol\n')
    const run = await runScript('config.ts', { envFile, args: ['--password-stdin'], input: 'new-secret-pass\n' })
    assert.equal(run.code, 0, run.output)
    assert.deepEqual(readEnvFile(envFile), { XJTLU_USERNAME: 'carol', XJTLU_PASSWORD: 'new-secret-pass' })
  })

  test('without a terminal and without --password-stdin it says how to pipe the password, and writes nothing', async (t) => {
    const { envFile } = makeTempDir(t)
    const run = await runScript('config.ts', { envFile, args: ['--username', 'alice'] })
    assert.notEqual(run.code, 0)
    assert.match(run.output, /--password-stdin/)
    assert.equal(existsSync(envFile), false)
  })
})
