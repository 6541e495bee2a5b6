/**
 * The one-command first run (what the original adapter's `run.bat` did):
 * `npx tsx adapter.ts` on a terminal, with nothing usable in `.env`, asks for
 * the XJTLU username and password (as config.ts does), logs in with the
 * browser showing each step (as auth.ts does), then lets the adapter serve.
 * Without a terminal nothing is asked: the adapter serves as before and says
 * to run config.ts, then auth.ts.
 */
import type { ConsolaInstance } from 'consola'
import { isXipuError } from '../errors.ts'
import { isTokenUnusable } from '../jwt.ts'
import { saveLoginResult, summarizeLoginResult } from '../login/result.ts'
import { loadSettings, type Settings } from '../settings.ts'

// A mistyped password is asked again, up to this many tries in all.
const PASSWORD_TRIES = 3

/** Whether a first run applies: a terminal to ask in, and neither a usable token nor saved credentials. */
export function needsFirstRun(settings: Settings, terminal = Boolean(process.stdin.isTTY && process.stdout.isTTY)): boolean {
  return terminal && isTokenUnusable(settings.jmToken) && !(settings.username && settings.password)
}

/**
 * Asks, saves and logs in. Resolves true when `.env` now holds a fresh
 * token, false when the user cancelled (nothing more is saved then). A login
 * that fails for another reason than the password is thrown, with its advice.
 *
 * @example
 * if (needsFirstRun(loadSettings()) && !(await runFirstRun({ log }))) return 1
 */
export async function runFirstRun(options: { log: ConsolaInstance; envFile?: string }): Promise<boolean> {
  const { log } = options
  let settings = loadSettings({ envFile: options.envFile })
  // Loaded only for a first run: the browser and the prompts cost every other start some 0.7 s of CPU.
  const { askForCredentials } = await import('../login/prompt.ts')
  const { loginWithSettings } = await import('../login/browser.ts')
  log.info(`First run: nothing usable in ${settings.envFile} yet. Your XJTLU login is saved there (mode 600) so that the adapter can log in again by itself.`)
  for (let attempt = 1; ; attempt++) {
    if (!(await askForCredentials(settings.envFile, settings.username, { next: 'logging in' }))) return false
    settings = loadSettings({ envFile: options.envFile })
    try {
      const result = await loginWithSettings(settings, { onProgress: ({ step, total, message }) => log.info(`step ${step}/${total} ${message}`) })
      saveLoginResult(settings.envFile, result)
      log.success(`Logged in; saved to ${settings.envFile}`)
      for (const line of summarizeLoginResult(result)) log.info(line)
      return true
    } catch (error) {
      if (!isXipuError(error, 'E_WRONG_PASSWORD') || attempt >= PASSWORD_TRIES) throw error
      log.warn(`${error.message.split('\n')[0]} Try again (${PASSWORD_TRIES - attempt} more).`)
    }
  }
}
