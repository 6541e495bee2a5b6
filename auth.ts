/**
 * Logs in to XIPU AI with your own Chrome, Chromium or Edge (headless) and
 * saves the captured credentials (`JM_TOKEN`, `SDP_SESSION`, `XIPU_COOKIE`,
 * `XIPU_API_BASE`) into `.env`, keeping every other line. On any failure
 * `.env` is left exactly as it was.
 *
 *   npx tsx auth.ts          headless
 *   npx tsx auth.ts --show   in a visible window (to watch, or for an extra verification step)
 */
import { runScript } from './lib/cli.ts'

runScript({
  script: 'auth.ts',
  about: 'Logs in to XIPU AI in a headless browser with the username and password config.ts saved, and saves the tokens into .env.',
  flags: { show: { type: 'boolean', description: 'log in in a visible window (to watch, or for an extra verification step)' } },
  async main({ flags, log }) {
    // Loaded after the flags are read: --help and a wrong flag answer without loading the browser.
    const { loadSettings } = await import('./lib/settings.ts')
    const { loginWithSettings } = await import('./lib/login/browser.ts')
    const { saveLoginResult, summarizeLoginResult } = await import('./lib/login/result.ts')
    const settings = loadSettings()
    const result = await loginWithSettings(settings, {
      headless: !flags.show,
      onProgress: ({ step, total, message }) => log.info(`step ${step}/${total} ${message}`),
    })
    saveLoginResult(settings.envFile, result)
    log.success(`Logged in; saved to ${settings.envFile}`)
    for (const line of summarizeLoginResult(result)) log.info(line)
    if (!result.sdpSession) log.warn('No API request was seen, so SDP_SESSION was not captured: the token alone may not be enough.')
  },
})
