/**
 * Shows when the saved `JM_TOKEN` was issued and expires, the time left and
 * a valid/expired verdict, with anything identifying masked.
 *
 *   npx tsx expire.ts          for people
 *   npx tsx expire.ts --json   for scripts
 *
 * Exit code: 0 valid, 1 expired, 2 no token or not a JWT.
 */
import { parseFlags, runMain } from './lib/cli.ts'
import { isXipuError, XipuError } from './lib/errors.ts'
import { createLogger } from './lib/log.ts'
import { loadSettings } from './lib/settings.ts'
import { formatTokenReport, inspectToken, type TokenReport } from './lib/token-report.ts'

const log = createLogger('expire')

runMain(() => {
  const flags = parseFlags({ json: { type: 'boolean' } }, 'npx tsx expire.ts [--json]')
  let report: TokenReport
  try {
    report = inspectToken(loadSettings().jmToken)
  } catch (error) {
    if (!isXipuError(error)) throw error
    // Whatever keeps us from reading the token, the answer is "cannot tell": 2.
    if (!flags.json) throw new XipuError(error.code, error.message, { exitCode: 2 })
    _printJson({ valid: false, error: { code: error.code, message: error.message } })
    return 2
  }
  if (flags.json) _printJson(report)
  else for (const line of formatTokenReport(report)) log.log(line)
  return report.valid ? 0 : 1
}, log)

function _printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`)
}
