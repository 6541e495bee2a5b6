/**
 * The screenshot every failed login leaves, so that a changed page can be
 * seen: private like `.env` (it may show the username), and never a hang of
 * its own when the page is hung.
 */
import { chmodSync, mkdirSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import type { Page } from 'puppeteer-core'

const SCREENSHOT_ATTEMPTS = 4
// A hung page must not hang the error report; Chrome swaps in its error page within a few hundred ms.
const SCREENSHOT_TIMEOUT_MS = 10_000
const SCREENSHOT_RETRY_MS = 300

/** Saves a full-page PNG of `page` into `dir`; its path, or undefined when none could be taken. */
export async function saveScreenshot(page: Page, dir = 'screenshots'): Promise<string | undefined> {
  const path = resolve(dir, `login-failed-${new Date().toISOString().replace(/[:.]/g, '-')}.png`)
  try {
    mkdirSync(dirname(path), { recursive: true })
  } catch {
    return undefined
  }
  // Right after a failed navigation Chrome is still swapping in its error page
  // (in a new renderer), and until then the page cannot be captured: retry.
  for (let attempt = 1; attempt <= SCREENSHOT_ATTEMPTS; attempt++) {
    try {
      // A hung page must not hang the error report too.
      const giveUp = new AbortController()
      const gaveUp = sleep(SCREENSHOT_TIMEOUT_MS, 'gave up' as const, { signal: giveUp.signal }).catch(() => undefined)
      const taken = await Promise.race([page.screenshot({ path, fullPage: true }), gaveUp]).finally(() => giveUp.abort())
      if (taken === 'gave up') return undefined
      // It may show the username: keep it private like .env.
      chmodSync(path, 0o600)
      return path
    } catch {
      await sleep(SCREENSHOT_RETRY_MS)
    }
  }
  return undefined
}
