/**
 * The doctor's login check (`--check --login`): the whole browser login, as
 * auth.ts runs it, step by step, so that a selector the SSO or the chat page
 * no longer matches is named with its step. It takes a browser and several
 * seconds, so it runs only when asked.
 *
 * A successful login's tokens are saved, as auth.ts saves them: whether a new
 * login ends the older ones is not known, and a doctor must not leave the
 * adapter with a token the platform has just retired.
 */
import { isXipuError } from '../errors.ts'
import { saveLoginResult } from '../login/result.ts'
import { resolveLoginSelectors } from '../login/selectors.ts'
import type { Settings } from '../settings.ts'
import type { Pacer } from '../xipu/pacer.ts'
import { checkLine, type CheckLine } from './report.ts'

/**
 * @example
 * const line = await checkLoginPage(settings, probe.pacer)
 */
export async function checkLoginPage(settings: Settings, pacer?: Pacer): Promise<CheckLine> {
  if (!settings.username || !settings.password) {
    return checkLine('login', 'login page', 'fail', 'no XJTLU_USERNAME and XJTLU_PASSWORD saved to log in with', { advice: 'Run npx tsx config.ts first.' })
  }
  let selectors: ReturnType<typeof resolveLoginSelectors>
  try {
    selectors = resolveLoginSelectors(settings.selectors)
  } catch (error) {
    return checkLine('login', 'login page', 'fail', (error as Error).message, { advice: 'Fix XIPU_SELECTORS in .env, or remove it to use the defaults.' })
  }
  const steps: string[] = []
  const started = performance.now()
  // Loaded only here: a --check without --login needs no browser code.
  const { loginWithSettings } = await import('../login/browser.ts')
  // The chat page calls the platform during the login: it takes a turn like any call.
  await pacer?.waitTurn({ label: 'login' })
  try {
    const result = await loginWithSettings(settings, { onProgress: (p) => steps.push(`${p.step}/${p.total} ${p.message}`) })
    saveLoginResult(settings.envFile, result)
    const seconds = Math.round((performance.now() - started) / 100) / 10
    const how = result.source === 'localStorage' ? 'the token from localStorage (no API request seen)' : 'the credentials from the chat page\'s API request'
    return checkLine('login', 'login page', 'ok', `all ${steps.length} steps passed in ${seconds} s (${selectors.username}, ${selectors.password}, ${selectors.submit}, ${selectors.portalLink}, ${selectors.chatButton}); read ${how}; fresh tokens saved to .env`, {
      details: { steps: steps.length, seconds, source: result.source, apiBaseSeen: Boolean(result.apiBase), selectors },
    })
  } catch (error) {
    const advice = isXipuError(error, 'E_WRONG_PASSWORD')
      ? 'Check the username and password: npx tsx config.ts.'
      : isXipuError(error, 'E_NO_CHROME')
        ? 'Install Chrome, Chromium or Edge, or set CHROME_PATH in .env.'
        : 'The login page may have changed: see the screenshot named above; selectors can be set with XIPU_SELECTORS. Please report it.'
    return checkLine('login', 'login page', 'fail', `${(error as Error).message.split('\n')[0]} (after ${steps.at(-1) ?? 'the start'})`, {
      advice,
      details: { steps: steps.length, code: isXipuError(error) ? error.code : 'unexpected', selectors },
    })
  }
}
