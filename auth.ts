/**
 * Logs in to XIPU AI with your own Chrome, Chromium or Edge (headless) and
 * saves the captured credentials (`JM_TOKEN`, `SDP_SESSION`, `XIPU_COOKIE`,
 * `XIPU_API_BASE`) into `.env`, keeping every other line. On any failure
 * `.env` is left exactly as it was.
 *
 *   npx tsx auth.ts          headless
 *   npx tsx auth.ts --show   in a visible window (to watch, or for an extra verification step)
 */
import { loginWithSettings, saveLoginResult, summarizeLoginResult } from './lib/login/browser.ts'
import { parseFlags, runMain } from './lib/cli.ts'
import { createLogger } from './lib/log.ts'
import { loadSettings } from './lib/settings.ts'

const log = createLogger('auth')

runMain(async () => {
  const flags = parseFlags({ show: { type: 'boolean' } }, 'npx tsx auth.ts [--show]')
  const settings = loadSettings()
  const result = await loginWithSettings(settings, {
    headless: !flags.show,
    onProgress: ({ step, total, message }) => log.info(`step ${step}/${total} ${message}`),
  })
  saveLoginResult(settings.envFile, result)
  log.success(`Logged in; saved to ${settings.envFile}`)
  for (const line of summarizeLoginResult(result)) log.info(line)
  if (!result.sdpSession) log.warn('No API request was seen, so SDP_SESSION was not captured: the token alone may not be enough.')
  return 0
}, log)
