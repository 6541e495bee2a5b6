/**
 * Writing `.env`: every other line kept, values quoted when they need it,
 * mode 0600, replaced atomically, created when missing.
 */
import assert from 'node:assert/strict'
import { chmodSync, linkSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import { parseEnv, readEnvFile, updateEnvFile } from '../lib/env-file.ts'
import { isXipuError } from '../lib/errors.ts'
import { makeTempDir } from './support/temp-dir.ts'

const POSIX = process.platform !== 'win32'

test('keeps foreign keys, comments, blank lines and their order', (t) => {
  const { envFile } = makeTempDir(t)
  writeFileSync(envFile, ['# my adapter', 'PORT=9000', '', 'export OTHER="kept as is"  # why', 'JM_TOKEN=old', '# end'].join('\n') + '\n')
  updateEnvFile(envFile, { JM_TOKEN: 'new', SDP_SESSION: 'sdp-1' })
  assert.equal(
    readFileSync(envFile, 'utf8'),
    ['# my adapter', 'PORT=9000', '', 'export OTHER="kept as is"  # why', 'JM_TOKEN=new', '# end', 'SDP_SESSION=sdp-1'].join('\n') + '\n',
  )
})

test('removes keys set to undefined and later duplicates of a rewritten key', (t) => {
  const { envFile } = makeTempDir(t)
  writeFileSync(envFile, 'A=1\nSDP_SESSION=stale\nJM_TOKEN=one\nJM_TOKEN=two\n')
  updateEnvFile(envFile, { JM_TOKEN: 'three', SDP_SESSION: undefined })
  assert.equal(readFileSync(envFile, 'utf8'), 'A=1\nJM_TOKEN=three\n')
})

test('quotes values that need it, and reads every value back unchanged', (t) => {
  const { envFile } = makeTempDir(t)
  const values = {
    PLAIN: 'abc-123_x.y/z',
    SPACES: 'two words',
    HASH: 'pass#word',
    DOUBLE: 'say "hi"',
    SINGLE: "it's",
    BACKSLASH: 'C:\\Users\\me',
    DOLLAR: '$HOME',
    EDGES: ' padded ',
    EMPTY: '',
    UNICODE: '密码 🔑',
  }
  updateEnvFile(envFile, values)
  const text = readFileSync(envFile, 'utf8')
  assert.match(text, /^PLAIN=abc-123_x\.y\/z$/m, 'a plain value is not quoted')
  assert.match(text, /^HASH="pass#word"$/m, 'a # would start a comment unquoted')
  assert.match(text, /^SPACES="two words"$/m)
  assert.deepEqual(readEnvFile(envFile), values)
  assert.deepEqual(parseEnv(text), values)
})

test('writes mode 0600, even over a file that was readable by others', { skip: !POSIX && 'POSIX permissions' }, (t) => {
  const { envFile } = makeTempDir(t)
  writeFileSync(envFile, 'A=1\n')
  chmodSync(envFile, 0o644)
  updateEnvFile(envFile, { XJTLU_PASSWORD: 'secret' })
  assert.equal(statSync(envFile).mode & 0o777, 0o600)
})

test('replaces the file by rename: the old file is never written in place, no temp file is left', (t) => {
  const { dir, envFile } = makeTempDir(t)
  writeFileSync(envFile, 'A=1\nJM_TOKEN=old\n')
  // A second name for the old file: an in-place write would change it too.
  const oldFile = join(dir, 'old-env')
  linkSync(envFile, oldFile)
  updateEnvFile(envFile, { JM_TOKEN: 'new' })
  assert.equal(readFileSync(oldFile, 'utf8'), 'A=1\nJM_TOKEN=old\n')
  assert.equal(readFileSync(envFile, 'utf8'), 'A=1\nJM_TOKEN=new\n')
  assert.deepEqual(readdirSync(dir).sort(), ['.env', 'old-env'])
})

test('a write that cannot complete throws E_ENV_FILE and leaves no temp file', (t) => {
  const { dir } = makeTempDir(t)
  // A folder where the file should be: the final rename must fail.
  const blocked = join(dir, 'blocked.env')
  mkdirSync(join(blocked, 'inside'), { recursive: true })
  assert.throws(() => updateEnvFile(blocked, { JM_TOKEN: 'x' }), (error) => isXipuError(error, 'E_ENV_FILE'))
  assert.deepEqual(readdirSync(dir), ['blocked.env'])
  assert.deepEqual(readdirSync(blocked), ['inside'])
})

test('creates a file that does not exist yet', (t) => {
  const { envFile } = makeTempDir(t)
  assert.deepEqual(readEnvFile(envFile), {}, 'a missing file reads as empty')
  updateEnvFile(envFile, { XJTLU_USERNAME: 'alice' })
  assert.equal(readFileSync(envFile, 'utf8'), 'XJTLU_USERNAME=alice\n')
  if (POSIX) assert.equal(statSync(envFile).mode & 0o777, 0o600)
})

test('keeps CRLF line endings of a file edited on Windows', (t) => {
  const { envFile } = makeTempDir(t)
  writeFileSync(envFile, '# win\r\nA=1\r\n')
  updateEnvFile(envFile, { B: '2' })
  assert.equal(readFileSync(envFile, 'utf8'), '# win\r\nA=1\r\nB=2\r\n')
})
