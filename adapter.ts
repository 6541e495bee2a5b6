/**
 * The adapter: an OpenAI-compatible API for XIPU AI on this machine.
 *
 *   npx tsx adapter.ts              serve with the tokens in .env
 *   npx tsx adapter.ts --keepalive  also run the keepalive jobs (token renewal, orphan sweeps) in this process
 *   npx tsx adapter.ts --simulate   serve against a built-in simulator (npm run demo)
 *   npx tsx adapter.ts --check      the doctor: try every platform call the adapter relies on, and report (--json, --login)
 *
 * It looks after itself: it sweeps the sessions earlier runs left behind, logs
 * in before serving when the token is missing or expired, and logs in again
 * after a platform 403, when XJTLU_USERNAME and XJTLU_PASSWORD are saved.
 */
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { startAdapter } from './lib/adapter/start.ts'
import { describeToken } from './lib/jwt.ts'
import { createLogger } from './lib/log.ts'

const log = createLogger('adapter')

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      simulate: { type: 'boolean', default: false },
      keepalive: { type: 'boolean', default: false },
      check: { type: 'boolean', default: false },
      login: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      model: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  })
  if (values.help) {
    console.log(
      'Usage: npx tsx adapter.ts [--keepalive] [--simulate]\n' +
        '       npx tsx adapter.ts --check [--json] [--login] [--model ID]\n' +
        '  --keepalive  also renew the token before it expires and sweep orphan sessions (as keepalive.ts does)\n' +
        '  --simulate   run against a built-in simulator of XIPU (no account needed)\n' +
        '  --check      the doctor: try every platform call the adapter relies on, gently, and report (exit 1 when one fails)\n' +
        '  --json       with --check: the report as JSON, with nothing secret or personal in it (for bug reports)\n' +
        '  --login      with --check: also try the browser login and its selectors\n' +
        '  --model ID   with --check: check with this model (default: the first multimodal one)',
    )
    return
  }
  if (values.check) {
    const { runDoctorCommand } = await import('./lib/doctor/index.ts')
    process.exitCode = await runDoctorCommand({ json: values.json, login: values.login, model: values.model })
    return
  }

  let overrides: Record<string, string> | undefined
  let simulator: Awaited<ReturnType<typeof import('./lib/simulator/index.ts').startSimulator>> | undefined
  if (values.simulate) {
    // Loaded only for the demo: a real adapter does not carry the simulator in memory.
    const { startSimulator } = await import('./lib/simulator/index.ts')
    simulator = await startSimulator({ seedWebChats: ['My own web chat (never deleted)'] })
    overrides = { ...simulator.adapterEnv(), XIPU_STATE_DIR: mkdtempSync(join(tmpdir(), 'xipu-demo-')) }
    log.info(`Simulated XIPU platform at ${simulator.webBase} (login demo / demo-password)`)
  }

  const adapter = await startAdapter({ overrides, heal: true, keepalive: values.keepalive })
  const settings = adapter.settings()
  const { models, source } = await adapter.models.list()

  log.box(
    [
      `OpenAI base URL:  ${adapter.baseURL}`,
      `API key:          ${settings.apiKey ? 'required (ADAPTER_API_KEY)' : 'any value (no ADAPTER_API_KEY set)'}`,
      `Token:            ${describeToken(settings.jmToken)}`,
      `Platform:         ${settings.apiBase}${simulator ? ' (simulator)' : ''}`,
      `Models (${source}): ${models.slice(0, 8).map((m) => m.id).join(', ')}${models.length > 8 ? `, … ${models.length} in all` : ''}`,
    ].join('\n'),
  )
  if (simulator) {
    const model = models[0]?.id ?? 'gpt-4.1'
    console.log(
      `\nTry it:\n  curl -N ${adapter.baseURL}/chat/completions -H 'content-type: application/json' -d '{"model":"${model}","stream":true,"messages":[{"role":"user","content":"Hello!"}]}'\n`,
    )
  }

  let stopping = false
  const stop = async (signal: string) => {
    if (stopping) return
    stopping = true
    log.info(`${signal}: finishing running requests (up to 5 s), deleting their sessions, then exiting.`)
    await adapter.close(5000)
    await simulator?.close()
    process.exit(0)
  }
  process.on('SIGINT', () => void stop('SIGINT'))
  process.on('SIGTERM', () => void stop('SIGTERM'))
}

main().catch((error: Error & { code?: string; exitCode?: number }) => {
  log.error(error.code?.startsWith('E_') ? error.message : error)
  process.exit(error.exitCode ?? 1)
})
