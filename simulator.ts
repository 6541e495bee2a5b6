/**
 * Runs the XIPU simulator on its own, for testing a client offline or
 * pointing an adapter at it by hand.
 *
 *   npx tsx simulator.ts [--port 9000] [--host 127.0.0.1] [--gap 1000] [--ttl 4h] [--chat-page creates-on-click]
 */
import { runScript, waitForStopSignal } from './lib/cli.ts'
import { formatSimulatorBanner, formatSimulatorEnv, parseSimulatorFlags, SIMULATOR_FLAGS } from './lib/simulator/cli.ts'
import { startSimulator } from './lib/simulator/index.ts'

runScript({
  script: 'simulator.ts',
  about: 'Runs a simulator of the XIPU AI platform (SSO login, chat API, its rate limit) until Ctrl-C. Login: demo / demo-password.',
  flags: SIMULATOR_FLAGS,
  async main({ flags, log }) {
    const options = parseSimulatorFlags(flags)
    const sim = await startSimulator({ ...options, seedWebChats: ['My own web chat (never deleted)'] })
    const stopSignal = waitForStopSignal()
    log.box(formatSimulatorBanner(sim, options))
    console.log(formatSimulatorEnv(sim))
    await stopSignal
    await sim.close()
  },
})
