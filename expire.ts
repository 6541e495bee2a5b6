/**
 * Shows when the saved `JM_TOKEN` was issued and expires, the time left and
 * a valid/expired verdict, with anything identifying masked.
 *
 *   npx tsx expire.ts          for people
 *   npx tsx expire.ts --json   for scripts
 *
 * Exit code: 0 valid, 1 expired, 2 no token or not a JWT.
 */
import { loginAdvice } from './lib/advice.ts'
import { runScript } from './lib/cli.ts'
import { isXipuError } from './lib/errors.ts'
import { loadSettings } from './lib/settings.ts'
import { formatTokenReport, inspectToken } from './lib/token-report.ts'

// "Cannot tell" (no token, not a JWT, an unreadable .env) is 2, apart from 1 for "expired".
const CANNOT_TELL = 2

runScript({
  script: 'expire.ts',
  about: 'Shows when the saved JM_TOKEN expires. Exit code: 0 valid, 1 expired, 2 no token or not a JWT.',
  flags: { json: { type: 'boolean', description: 'print the facts as JSON, for scripts' } },
  exitCodes: { E_NO_TOKEN: CANNOT_TELL, E_BAD_TOKEN: CANNOT_TELL, E_CONFIG: CANNOT_TELL, E_ENV_FILE: CANNOT_TELL },
  main({ flags, log }) {
    try {
      const settings = loadSettings()
      const report = inspectToken(settings.jmToken, Date.now(), loginAdvice(settings))
      if (flags.json) _printJson(report)
      else for (const line of formatTokenReport(report)) log.log(line)
      return report.valid ? 0 : 1
    } catch (error) {
      if (!flags.json || !isXipuError(error)) throw error
      _printJson({ valid: false, error: { code: error.code, message: error.message } })
      return CANNOT_TELL
    }
  },
})

function _printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`)
}
