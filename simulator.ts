/**
 * Runs the XIPU simulator on its own, for testing a client offline or
 * pointing an adapter at it by hand.
 *
 *   npx tsx simulator.ts [--port 9000] [--gap 1000] [--ttl 4h]
 */
import { parseArgs } from 'node:util'
import { createLogger } from './lib/log.ts'
import { parseDuration } from './lib/settings.ts'
import { startSimulator } from './lib/simulator/index.ts'

const log = createLogger('simulator')

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      port: { type: 'string', default: '9000' },
      host: { type: 'string', default: '127.0.0.1' },
      gap: { type: 'string', default: '1000' },
      ttl: { type: 'string', default: '4h' },
      help: { type: 'boolean', short: 'h' },
    },
  })
  if (values.help) {
    console.log('Usage: npx tsx simulator.ts [--port 9000] [--host 127.0.0.1] [--gap 1000] [--ttl 4h]')
    return
  }
  const sim = await startSimulator({
    host: values.host,
    port: Number(values.port),
    minGapMs: parseDuration(values.gap, '--gap'),
    tokenTtlMs: parseDuration(values.ttl, '--ttl'),
    seedWebChats: ['My own web chat (never deleted)'],
  })
  const env = sim.adapterEnv()
  log.box(
    [
      `Web app and SSO:  ${sim.webBase}  (user demo, password demo-password)`,
      `API base:         ${sim.apiBase}`,
      `Rate limit:       one call per ${values.gap} ms`,
    ].join('\n'),
  )
  // These are the simulator's own throwaway tokens, not a user's: printed whole on
  // purpose (the redacting logger would mask them), so they can be pasted into .env.
  console.log(
    [
      'Point an adapter at it with this .env (or run npx tsx config.ts, then npx tsx auth.ts):',
      `XIPU_WEB_BASE=${sim.webBase}`,
      `XIPU_API_BASE=${sim.apiBase}`,
      `JM_TOKEN=${env.JM_TOKEN}`,
      `SDP_SESSION=${env.SDP_SESSION}`,
    ].join('\n'),
  )
  const stop = async () => {
    await sim.close()
    process.exit(0)
  }
  process.on('SIGINT', () => void stop())
  process.on('SIGTERM', () => void stop())
}

main().catch((error: Error) => {
  log.error(error.message)
  process.exit(1)
})
