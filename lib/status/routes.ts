/**
 * The status routes: `/` gives a browser (Accept: text/html) the status page
 * and every other client today's JSON index; `/status.json` is the page's
 * data. They sit on the adapter's app, behind the same Host, Origin and API
 * key checks as the API (the page itself holds no data, so it is served
 * without the key and asks for it).
 */
import type { H3, H3Event } from 'h3'
import { STATUS_PAGE_CSP, renderStatusPage } from './page.ts'
import { buildStatusSnapshot, type StatusDeps } from './snapshot.ts'

/**
 * @example
 * registerStatusRoutes(app, { settings, pacer, sessions, models, status, startedAt }, () => ({ name: 'xipu-openai', … }))
 */
export function registerStatusRoutes(app: H3, deps: StatusDeps, index: () => unknown): void {
  let page: string | undefined
  app.get('/', (event) => {
    if (!wantsHtml(event)) return index()
    page ??= renderStatusPage()
    return new Response(page, {
      headers: { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store', 'content-security-policy': STATUS_PAGE_CSP, 'x-content-type-options': 'nosniff', vary: 'accept' },
    })
  })
  app.get('/status.json', async (event) => Response.json(await buildStatusSnapshot(deps, event.req.signal), { headers: { 'cache-control': 'no-store' } }))
}

/** Whether the client asks for HTML before JSON (a browser does; curl and SDKs do not). */
export function wantsHtml(event: H3Event): boolean {
  const accept = event.req.headers.get('accept') ?? ''
  const html = accept.indexOf('text/html')
  if (html === -1) return false
  const json = accept.indexOf('application/json')
  return json === -1 || html < json
}
