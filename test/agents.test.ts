/**
 * The real coding agents, offline, against the adapter and the simulated
 * platform: Codex CLI over /v1/responses (`codex exec`, a custom
 * `model_providers` entry with `wire_api = "responses"`) and Claude Code
 * over /v1/messages (`claude -p`, `ANTHROPIC_BASE_URL`). Each is asked
 * for something that makes the simulated model call one of the agent's own
 * tools (a shell command, a file read): the agent runs it, sends the result
 * back, and prints the model's answer built from it.
 *
 * The agents are not dependencies (each is a native binary of several
 * hundred MB): set XIPU_TEST_CODEX / XIPU_TEST_CLAUDE to their binaries, or
 * have `codex` / `claude` on PATH; a missing one is skipped with the reason.
 * Each runs with a home and config of its own in a temporary folder.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { createAgentEnv, findAgent, runAgent, type AgentRun } from './support/agents.ts'
import { startStack, type Stack } from './support/harness.ts'
import { makeTempDir } from './support/temp-dir.ts'

const KEY = 'test-key-agents'
// The names the agents send, as a user maps them (README, "Coding agents").
const MODEL_MAP = 'claude-sonnet-4-5=claude-3-7-sonnet-20250219,claude-haiku-4-5=gpt-5.4-mini'
// Generous: an agent starts a native binary, and the machine may be busy. A safety net, not a speed check.
const AGENT_TEST_TIMEOUT_MS = 300_000

const codex = findAgent('codex', 'XIPU_TEST_CODEX')
const claude = findAgent('claude', 'XIPU_TEST_CLAUDE')

let stack: Stack | undefined
before(async () => {
  if (codex.agent || claude.agent) stack = await startStack({ gapMs: 50, overrides: { ADAPTER_API_KEY: KEY, XIPU_MODEL_MAP: MODEL_MAP } })
})
after(async () => {
  await stack?.close()
})

/** A folder with a home and a project holding a note with a fresh marker in it. */
function _workspace(t: Parameters<typeof makeTempDir>[0]) {
  const { dir } = makeTempDir(t)
  const home = join(dir, 'home')
  const project = join(dir, 'project')
  mkdirSync(home)
  mkdirSync(project)
  const marker = `marker-${randomBytes(6).toString('hex')}`
  writeFileSync(join(project, 'note.txt'), `${marker}\n`)
  return { home, project, marker, notePath: join(project, 'note.txt') }
}

function _explain(run: AgentRun): string {
  return `exit ${run.code}\n--- stdout ---\n${run.stdout.slice(-4000)}\n--- stderr ---\n${run.stderr.slice(-4000)}`
}

/** What the platform was asked from `since` on: the prompts and the models of the sessions. */
function _platformSaw(since: number) {
  return {
    prompts: stack!.calls({ endpoint: 'completions', since }).map((c) => (c.body as { text: string }).text),
    thinking: stack!.calls({ endpoint: 'completions', since }).map((c) => (c.body as { thinking?: string }).thinking),
    models: stack!.calls({ endpoint: 'saveSession', since }).map((c) => (c.body as { model: string }).model),
  }
}

describe('Codex CLI over /v1/responses', () => {
  test('codex exec with a reasoning model: the model calls exec_command, Codex runs it and the answer is built from its output', { skip: codex.skip, timeout: AGENT_TEST_TIMEOUT_MS }, async (t) => {
    t.diagnostic(`codex: ${codex.agent!.path} (${codex.agent!.version})`)
    const { home, project, marker } = _workspace(t)
    const codexHome = join(home, '.codex')
    mkdirSync(codexHome)
    // The recipe of the README. Subagent tools come as 'namespace' tools, which the platform cannot take.
    writeFileSync(
      join(codexHome, 'config.toml'),
      [
        // A reasoning model: Codex then sends reasoning settings and hands reasoning items back.
        'model = "o3"',
        'model_reasoning_effort = "high"',
        'model_provider = "xipu"',
        '',
        '[model_providers.xipu]',
        'name = "XIPU via xipu-openai"',
        `base_url = ${JSON.stringify(stack!.adapter.baseURL)}`,
        'env_key = "XIPU_ADAPTER_KEY"',
        'wire_api = "responses"',
        '',
        '[agents]',
        'enabled = false',
        '',
      ].join('\n'),
    )
    const lastMessage = join(home, 'last-message.txt')
    const since = stack!.sim.state.calls.length

    const run = await runAgent(
      codex.agent!.path,
      // Its sandbox needs user namespaces, which depend on the host, not on us; the command is ours and harmless.
      ['exec', '--skip-git-repo-check', '--ephemeral', '--sandbox', 'danger-full-access', '--color', 'never', '-C', project, '-o', lastMessage, 'Show me the note. [[sim:call=exec_command {"cmd":"cat note.txt"}]]'],
      { cwd: project, env: createAgentEnv(home, { CODEX_HOME: codexHome, XIPU_ADAPTER_KEY: KEY }) },
    )

    assert.equal(run.code, 0, _explain(run))
    const answer = readFileSync(lastMessage, 'utf8')
    assert.match(answer, /^From the tools: exec_command → /, _explain(run))
    assert.ok(answer.includes(marker), `the command's output reached the model and came back:\n${answer}`)

    const saw = _platformSaw(since)
    const withResult = saw.prompts.find((p) => /<tool_response id="call_[^"]+" name="exec_command">/.test(p))
    assert.ok(withResult, `a second turn carried the tool's result:\n${saw.prompts.join('\n---\n').slice(-3000)}`)
    assert.ok(withResult.includes(marker))
    assert.ok(saw.models.length >= 2 && saw.models.every((m) => m === 'o3'), saw.models.join(', '))
    assert.ok(saw.thinking.every((level) => level === 'high'), `reasoning.effort became the platform's thinking: ${saw.thinking.join(', ')}`)
    await stack!.waitForCleanPlatform()
  })
})

describe('Claude Code over /v1/messages', () => {
  test('claude -p: the model calls Read, Claude Code reads the file and the answer is built from it', { skip: claude.skip, timeout: AGENT_TEST_TIMEOUT_MS }, async (t) => {
    t.diagnostic(`claude: ${claude.agent!.path} (${claude.agent!.version})`)
    const { home, project, marker, notePath } = _workspace(t)
    const since = stack!.sim.state.calls.length

    const run = await runAgent(
      claude.agent!.path,
      ['-p', `Show me the note. [[sim:call=Read ${JSON.stringify({ file_path: notePath })}]]`, '--model', 'claude-sonnet-4-5', '--output-format', 'json'],
      {
        cwd: project,
        env: createAgentEnv(home, {
          CLAUDE_CONFIG_DIR: join(home, '.claude'),
          ANTHROPIC_BASE_URL: stack!.adapter.url,
          ANTHROPIC_API_KEY: KEY,
          // Offline: no telemetry, error reports, update checks or other traffic beyond the API.
          CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
          DISABLE_TELEMETRY: '1',
          DISABLE_ERROR_REPORTING: '1',
          DISABLE_AUTOUPDATER: '1',
        }),
      },
    )

    assert.equal(run.code, 0, _explain(run))
    const result = JSON.parse(run.stdout) as { is_error: boolean; result: string }
    assert.equal(result.is_error, false, _explain(run))
    assert.match(result.result, /^From the tools: Read → /, _explain(run))
    assert.ok(result.result.includes(marker), `the file's content reached the model and came back:\n${result.result}`)

    const saw = _platformSaw(since)
    const withResult = saw.prompts.find((p) => /<tool_response id="call_[^"]+" name="Read">/.test(p))
    // Claude Code sent the toolu_ id back; the model reads the internal id, as over chat completions.
    assert.ok(withResult, `a second turn carried the tool's result:\n${saw.prompts.join('\n---\n').slice(-3000)}`)
    assert.ok(withResult.includes(marker))
    assert.ok(saw.models.includes('claude-3-7-sonnet-20250219'), `XIPU_MODEL_MAP applied: ${saw.models.join(', ')}`)
    await stack!.waitForCleanPlatform()
  })
})
