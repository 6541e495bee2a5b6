/**
 * The adapter: an OpenAI-compatible API for XIPU AI on this machine.
 *
 *   npx tsx adapter.ts              serve with the tokens in .env
 *   npx tsx adapter.ts --keepalive  also run the keepalive jobs (token renewal, orphan sweeps) in this process
 *   npx tsx adapter.ts --simulate   serve against a built-in simulator (npm run demo)
 *   npx tsx adapter.ts --check      the doctor: try every platform call the adapter relies on, and report (--json, --login)
 *   npx tsx adapter.ts --check --simulate   the doctor against the built-in simulator: what a healthy report looks like
 *
 * It looks after itself: it sweeps the sessions earlier runs left behind, logs
 * in before serving when the token is missing or expired, and logs in again
 * after a platform 403, when XJTLU_USERNAME and XJTLU_PASSWORD are saved.
 */
import { runScript, usageError } from './lib/cli.ts'

runScript({
  script: 'adapter.ts',
  about: 'Serves an OpenAI-compatible API for XIPU AI until Ctrl-C; with --check, reports on the platform instead.',
  flags: {
    keepalive: { type: 'boolean', description: 'also renew the token before it expires and sweep orphan sessions (as keepalive.ts does)' },
    simulate: { type: 'boolean', description: 'run against a built-in simulator of XIPU (no account needed)' },
    check: { type: 'boolean', description: 'the doctor: try every platform call the adapter relies on, gently, and report (exit 1 when one fails)' },
    json: { type: 'boolean', description: 'with --check: the report as JSON, with nothing secret or personal in it (for bug reports)' },
    login: { type: 'boolean', description: 'with --check: also try the browser login and its selectors' },
    model: { type: 'string', valueName: 'ID', description: 'with --check: check with this model (default: the first multimodal one)' },
  },
  async main({ flags, log }) {
    if (flags.check) {
      const { runDoctorCommand } = await import('./lib/doctor/index.ts')
      return runDoctorCommand({ json: flags.json, login: flags.login, model: flags.model, simulate: flags.simulate })
    }
    const only = flags.json ? '--json' : flags.login ? '--login' : flags.model !== undefined ? '--model' : undefined
    if (only) throw usageError(`${only} goes with --check.`)
    // Loaded after the flags are read: --help and a wrong flag answer without loading the whole server.
    const { serveUntilStopped } = await import('./lib/adapter/main.ts')
    return serveUntilStopped({ simulate: flags.simulate, keepalive: flags.keepalive, log })
  },
})
