/**
 * The settings table is the one source: `.env.example` and both READMEs'
 * settings tables list exactly its keys with its defaults, and every
 * duration setting accepts the same forms.
 */
import assert from 'node:assert/strict'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, test } from 'node:test'
import { isXipuError } from '../lib/errors.ts'
import { loadSettings, parseDuration, SETTINGS, type SettingSpec } from '../lib/settings.ts'
import { makeTempDir } from './support/temp-dir.ts'

const ROOT = join(import.meta.dirname, '..')
const TABLE = SETTINGS as readonly SettingSpec[]
const KEYS = TABLE.map((s) => s.key).sort()
const DURATIONS = TABLE.filter((s) => s.parse === parseDuration)

function _fallbackOf(spec: SettingSpec, envFile: string): unknown {
  return typeof spec.fallback === 'function' ? (spec.fallback as (c: { envFile: string }) => unknown)({ envFile }) : spec.fallback
}

/** `KEY=value` and `# KEY=value` lines of `.env.example`, by key. */
function _exampleLines(): Map<string, { value: string; commented: boolean }> {
  const lines = new Map<string, { value: string; commented: boolean }>()
  for (const line of readFileSync(join(ROOT, '.env.example'), 'utf8').split('\n')) {
    const match = /^(#\s*)?([A-Z][A-Z0-9_]*)=(.*)$/.exec(line)
    if (!match) continue
    assert.ok(!lines.has(match[2]!), `.env.example lists ${match[2]} twice`)
    lines.set(match[2]!, { value: match[3]!, commented: Boolean(match[1]) })
  }
  return lines
}

/** The rows of a README's settings table: key and its Default cell. */
function _readmeRows(file: string, heading: string): Map<string, string> {
  const text = readFileSync(join(ROOT, file), 'utf8')
  const start = text.indexOf(`\n## ${heading}\n`)
  assert.ok(start >= 0, `${file} has a "## ${heading}" section`)
  const section = text.slice(start + 1).split(/\n## /)[0]!
  const rows = new Map<string, string>()
  for (const line of section.split('\n')) {
    const match = /^\| `([A-Z][A-Z0-9_]*)` \| (.*?) \|/.exec(line)
    if (!match) continue
    assert.ok(!rows.has(match[1]!), `${file} lists ${match[1]} twice`)
    rows.set(match[1]!, match[2]!)
  }
  return rows
}

describe('the settings table is the one list of settings', () => {
  test('.env.example lists exactly its keys, and each commented-out value is the default', (t) => {
    const lines = _exampleLines()
    assert.deepEqual([...lines.keys()].sort(), KEYS)
    const { envFile } = makeTempDir(t)
    for (const spec of TABLE) {
      const { value, commented } = lines.get(spec.key)!
      if (!commented || value === '') continue
      assert.deepEqual(spec.parse(value, spec.key), _fallbackOf(spec, envFile), `.env.example: ${spec.key}=${value} is not the default`)
    }
  })

  for (const [file, heading] of [['README.md', 'Settings'], ['README.zh-CN.md', '设置']] as const) {
    test(`${file}'s settings table lists exactly its keys, with its defaults`, (t) => {
      const rows = _readmeRows(file, heading)
      assert.deepEqual([...rows.keys()].sort(), KEYS)
      const { envFile } = makeTempDir(t)
      for (const spec of TABLE) {
        // Only a default written as one code span (maybe with a note in brackets) is checked.
        const match = /^`([^`]*)`\s*(?:[(（].*)?$/.exec(rows.get(spec.key)!)
        if (!match) continue
        assert.deepEqual(spec.parse(match[1]!, spec.key), _fallbackOf(spec, envFile), `${file}: the default of ${spec.key} is not ${match[1]}`)
      }
    })
  }

  test('each key and field appears once', () => {
    assert.equal(new Set(KEYS).size, KEYS.length)
    assert.equal(new Set(TABLE.map((s) => s.field)).size, TABLE.length)
  })
})

describe('durations', () => {
  test('every duration setting accepts 1500, 1500ms, 1.5s, 30s, 10m and 2h alike', (t) => {
    const { envFile } = makeTempDir(t)
    assert.ok(DURATIONS.some((s) => s.key === 'XIPU_MIN_GAP_MS'), 'XIPU_MIN_GAP_MS is a duration')
    const forms: Record<string, number> = { '1500': 1500, '1500ms': 1500, '1.5s': 1500, '30s': 30_000, ' 10m ': 600_000, '2H': 7_200_000 }
    for (const [raw, ms] of Object.entries(forms)) {
      const overrides = Object.fromEntries(DURATIONS.map((s) => [s.key, raw]))
      const settings = loadSettings({ envFile, env: {}, overrides }) as unknown as Record<string, unknown>
      for (const spec of DURATIONS) assert.equal(settings[spec.field], ms, `${spec.key}=${raw}`)
    }
  })

  test('XIPU_MIN_GAP_MS=1s in .env is one second', (t) => {
    const { envFile } = makeTempDir(t)
    writeFileSync(envFile, 'XIPU_MIN_GAP_MS=1s\nXIPU_IDLE_TIMEOUT_MS=2m\n')
    const settings = loadSettings({ envFile, env: {} })
    assert.equal(settings.minGapMs, 1000)
    assert.equal(settings.idleTimeoutMs, 120_000)
  })

  test('a value that is not a duration is a config error naming the key', (t) => {
    const { envFile } = makeTempDir(t)
    for (const spec of DURATIONS) {
      assert.throws(
        () => loadSettings({ envFile, env: { [spec.key]: '5 minutes' } }),
        (error: unknown) => isXipuError(error) && error.code === 'E_CONFIG' && error.message.includes(`${spec.key}=5 minutes`),
      )
    }
  })
})

describe('reading', () => {
  test('environment beats .env; empty means the default; environment-only keys ignore .env', (t) => {
    const { dir, envFile } = makeTempDir(t)
    writeFileSync(envFile, 'PORT=9001\nXIPU_QUEUE_MAX=5\nXIPU_LOG_LEVEL=5\nHOST=\n')
    const settings = loadSettings({ envFile, env: { PORT: '9002' } })
    assert.equal(settings.port, 9002)
    assert.equal(settings.queueMax, 5)
    assert.equal(settings.logLevel, 3)
    assert.equal(settings.host, '127.0.0.1')
    assert.equal(settings.stateDir, join(dir, '.xipu'))
    assert.equal(settings.envFile, envFile)
  })

  test('bad values are config errors that name the key', (t) => {
    const { envFile } = makeTempDir(t)
    for (const [key, value] of [['PORT', 'abc'], ['XIPU_QUEUE_MAX', '0'], ['XIPU_LANG', 'fr'], ['XIPU_API_BASE', 'ftp://x'], ['XIPU_SELECTORS', '[1]']]) {
      assert.throws(
        () => loadSettings({ envFile, env: { [key!]: value } }),
        (error: unknown) => isXipuError(error) && error.code === 'E_CONFIG' && error.message.includes(key!),
        `${key}=${value}`,
      )
    }
  })
})
