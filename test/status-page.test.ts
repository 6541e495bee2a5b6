/**
 * The status page at `/`, in real Chromium (puppeteer-core): it renders
 * from nothing but the adapter (no CDN), updates itself after a request,
 * never shows a secret, asks once for the API key when one is set, and sits
 * behind the same Host checks as the API. JSON clients still get JSON at `/`.
 */
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import puppeteer, { type Browser, type Page } from 'puppeteer-core'
import { findChrome } from '../lib/login/find-chrome.ts'
import { startStack, type Stack } from './support/harness.ts'

// Safety nets for the page's two-second polling, not timing assertions.
const UPDATE_WAIT_MS = 15_000

let browser: Browser

before(async () => {
  browser = await puppeteer.launch({
    executablePath: findChrome(process.env.CHROME_PATH),
    headless: true,
    args: process.getuid?.() === 0 ? ['--no-sandbox'] : [],
  })
})
after(() => browser?.close())

/** A page that records every request it makes beyond the adapter's origin. */
async function _openPage(url: string): Promise<{ page: Page; foreign: string[] }> {
  const page = await browser.newPage()
  const foreign: string[] = []
  const origin = new URL(url).origin
  page.on('request', (request) => {
    if (!request.url().startsWith(origin) && !request.url().startsWith('data:')) foreign.push(request.url())
  })
  await page.goto(url, { waitUntil: 'domcontentloaded' })
  return { page, foreign }
}

async function _text(page: Page, selector: string): Promise<string> {
  return page.$eval(selector, (el) => (el as HTMLElement).innerText)
}

test('renders offline from the adapter alone, updates after a request, shows no secret', async (t) => {
  const stack: Stack = await startStack({ stopAfter: t })
  const { page, foreign } = await _openPage(`${stack.adapter.url}/`)
  t.after(() => page.close())

  await page.waitForFunction(() => document.querySelectorAll('#models .chip').length > 0, { timeout: UPDATE_WAIT_MS })
  assert.match(await _text(page, '#token-left'), /^\d+h \d\dm \d\ds$/, 'the token countdown')
  assert.match(await _text(page, '#token-facts'), /next renewal\s+in \d+h/)
  assert.match(await _text(page, '#models-summary'), /^21 models, 11 take images \(the platform's catalog\)/)
  assert.equal(await page.$$eval('#models .chip.mm', (chips) => chips.length), 11, 'multimodal models marked')
  assert.match(await _text(page, '#requests'), /No requests yet/)

  const reply = await stack.openai.chat.completions.create({ model: 'gpt-4.1', messages: [{ role: 'user', content: 'A private question about 周末计划' }] })
  assert.ok(reply.choices[0]?.message.content)
  await page.waitForFunction(() => /gpt-4\.1/.test((document.querySelector('#requests') as HTMLElement).innerText), { timeout: UPDATE_WAIT_MS })
  const row = await _text(page, '#requests tr:nth-child(2)')
  // Times read as 810 ms or 1.2 s, whichever the page chose for the value.
  assert.match(row, /chat\.completions\s+gpt-4\.1\s+200\s+\d+(?:\.\d)? m?s\s+\d+(?:\.\d)? m?s/)
  assert.match(await _text(page, '#calls'), /completions/, "the pacer's last calls")
  assert.match(await _text(page, '#sessions-facts'), /requests so far\s+1/)

  const shown = await page.content()
  const status = await (await fetch(`${stack.adapter.url}/status.json`)).text()
  const settings = stack.adapter.settings()
  for (const secret of [settings.jmToken!, settings.sdpSession!, settings.jmToken!.split('.')[1]!]) {
    assert.ok(!shown.includes(secret) && !status.includes(secret), 'no token on the page or in its data')
  }
  assert.ok(!shown.includes('private question') && !status.includes('private question'), 'no prompt text without XIPU_LOG_PROMPTS')
  assert.deepEqual(foreign, [], 'nothing loaded from elsewhere')
})

test('JSON clients still get the JSON index at /; the page keeps to the Host check', async (t) => {
  const stack = await startStack({ stopAfter: t })
  const json = await fetch(`${stack.adapter.url}/`)
  assert.match(json.headers.get('content-type') ?? '', /json/)
  assert.equal(((await json.json()) as { name: string }).name, 'xipu-openai')
  const html = await fetch(`${stack.adapter.url}/`, { headers: { accept: 'text/html,application/xhtml+xml' } })
  assert.match(html.headers.get('content-type') ?? '', /text\/html/)
  assert.match(html.headers.get('content-security-policy') ?? '', /default-src 'none'/)
  // Every API surface feeds the list: /v1/responses too.
  await stack.openai.responses.create({ model: 'gpt-4.1', input: 'Hi' })
  const status = (await (await fetch(`${stack.adapter.url}/status.json`)).json()) as { requests: { last: Array<{ api: string; status: string; model: string }> } }
  assert.deepEqual(status.requests.last.map((r) => [r.api, r.model, r.status]), [['responses', 'gpt-4.1', '200']])
  // A web page under a rebound name must not read the status either (DNS rebinding).
  const { request } = await import('node:http')
  const rebound = await new Promise<number>((resolve, reject) => {
    const req = request(`${stack.adapter.url}/status.json`, { headers: { host: 'evil.example:80' } }, (res) => resolve(res.statusCode ?? 0))
    req.on('error', reject)
    req.end()
  })
  assert.ok(rebound >= 400, `status.json for Host evil.example: ${rebound}`)
})

test('with ADAPTER_API_KEY the page asks for the key once and keeps it for the tab', async (t) => {
  const key = 'sk-status-page-test-key-0123456789'
  const stack = await startStack({ stopAfter: t, overrides: { ADAPTER_API_KEY: key } })
  assert.equal((await fetch(`${stack.adapter.url}/status.json`)).status, 401, 'the data needs the key')
  const { page } = await _openPage(`${stack.adapter.url}/`)
  t.after(() => page.close())

  await page.waitForSelector('#key-input', { visible: true, timeout: UPDATE_WAIT_MS })
  assert.match(await _text(page, '#key-hint'), /needs its API key/)
  await page.type('#key-input', 'wrong-key')
  await page.click('#key form button, #key-form button')
  await page.waitForFunction(() => /not accepted/.test((document.querySelector('#key-hint') as HTMLElement).innerText), { timeout: UPDATE_WAIT_MS })

  await page.type('#key-input', key)
  await page.click('#key-form button')
  await page.waitForFunction(() => document.querySelectorAll('#models .chip').length > 0, { timeout: UPDATE_WAIT_MS })
  assert.equal(await page.$eval('#key', (el) => (el as HTMLElement).style.display), 'none')
  assert.equal(await page.evaluate(() => sessionStorage.length), 1, 'kept in sessionStorage')

  await page.reload({ waitUntil: 'domcontentloaded' })
  await page.waitForFunction(() => document.querySelectorAll('#models .chip').length > 0, { timeout: UPDATE_WAIT_MS })
  assert.equal(await page.$eval('#key', (el) => (el as HTMLElement).style.display), 'none', 'not asked again in the same tab')
  assert.ok(!(await page.content()).includes(key), 'the key is not written into the page')
})
