/**
 * The simulated web app and SSO login, on the simulator's one origin, with the
 * markup the protocol document observed on the real site (`#username_show`,
 * `#password_show`, `#btn_login input`, `a[href='/v3/chat']`, a naive-ui
 * `button` with `span.n-button__content`, a `textarea`), so that the browser
 * login of `lib/login/browser.ts` is tested against the same selectors it
 * uses in production.
 *
 * The flow: `/` without the gateway cookie → `/sso/login?service=/`; a right
 * password sets the cookie and returns to `/`, the portal; `/v3/chat` is the
 * chat page, whose button starts a chat that calls `${apiPath}/session` with
 * both credential headers (`chatPage` modes: the button may create a session
 * first, and the page may call the API as it loads). `loginStepDelayMs`
 * delays each step's element; `breakLoginStep` leaves one out.
 */
import type { H3, H3Event } from 'h3'
import type { IssuedCredentials } from './tokens.ts'
import type { ChatPageMode, SimulatorState } from './state.ts'

// The message the SSO page shows for a wrong password. Its element carries the
// class `login-error`, which the default `loginError` selector looks for.
const WRONG_PASSWORD_MESSAGE = 'Invalid username or password. Please try again.'

/** Registers the web app and SSO pages on the simulator's origin. */
export function registerSsoPages(app: H3, state: SimulatorState): void {
  // Gateway cookie (`name=value`) → the credentials issued at that login. The
  // real page gets its tokens from its own login state; ours reads them here.
  const logins = new Map<string, IssuedCredentials>()
  const delay = () => state.options.loginStepDelayMs
  const loginOf = (event: H3Event) => {
    const sent = (event.req.headers.get('cookie') ?? '').split(/;\s*/)
    const cookie = sent.find((pair) => logins.has(pair))
    return cookie === undefined ? undefined : logins.get(cookie)
  }

  app.get('/', (event) => {
    if (!loginOf(event)) return _redirect(`/sso/login?service=${encodeURIComponent('/')}`)
    return _html(_renderPortal(delay(), state.options.breakLoginStep === 'portal-link'))
  })

  app.get('/sso/login', (event) => {
    const service = _safeService(new URL(event.req.url).searchParams.get('service'))
    return _html(_renderLoginForm({ service, delayMs: delay() }))
  })

  app.post('/sso/login', async (event) => {
    const service = _safeService(new URL(event.req.url).searchParams.get('service'))
    const form = await event.req.formData().catch(() => undefined)
    const username = String(form?.get('username') ?? '').trim()
    const password = String(form?.get('password') ?? '')
    if (!state.checkPassword(username, password)) {
      // The real SSO answers 200 with the form again, plus the error.
      return _html(_renderLoginForm({ service, delayMs: delay(), username, error: WRONG_PASSWORD_MESSAGE }))
    }
    const issued = state.tokens.issue(username)
    logins.set(issued.cookie, issued)
    return _redirect(service, `${issued.cookie}; Path=/; HttpOnly; SameSite=Lax`)
  })

  app.get('/v3/chat', (event) => {
    const login = loginOf(event)
    if (!login) return _redirect(`/sso/login?service=${encodeURIComponent('/v3/chat')}`)
    return _html(
      _renderChatPage({
        login,
        apiPath: state.options.apiPath,
        delayMs: delay(),
        withButton: state.options.breakLoginStep !== 'chat-button',
        withApiCall: state.options.breakLoginStep !== 'api-call',
        mode: state.options.chatPage,
        gapMs: state.options.minGapMs,
      }),
    )
  })
}

// Only same-origin paths: an absolute `service` would make the SSO an open redirect.
function _safeService(service: string | null): string {
  return service && service.startsWith('/') && !service.startsWith('//') ? service : '/'
}

function _redirect(location: string, setCookie?: string): Response {
  const headers = new Headers({ location })
  if (setCookie) headers.set('set-cookie', setCookie)
  return new Response(null, { status: 302, headers })
}

function _html(body: string): Response {
  return new Response(body, { headers: { 'content-type': 'text/html;charset=UTF-8', 'cache-control': 'no-store' } })
}

function _escape(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)
}

// JSON that is safe inside <script>: no `</script>` can close it early.
function _scriptJson(value: unknown): string {
  return JSON.stringify(value).replace(/</g, '\\u003c')
}

/**
 * A page whose content (the `<template id="step">`) appears only after
 * `delayMs`, as a slow single-page app would render it.
 */
function _page(title: string, step: string, delayMs: number, script = ''): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${_escape(title)}</title></head>
<body>
<div id="app"><p class="loading">Loading…</p></div>
<template id="step">${step}</template>
<script>
function revealStep() {
  const app = document.getElementById('app')
  app.replaceChildren(document.getElementById('step').content.cloneNode(true))
  window.dispatchEvent(new Event('step-revealed'))
}
setTimeout(revealStep, ${delayMs})
${script}
</script>
</body></html>`
}

function _renderLoginForm(options: { service: string; delayMs: number; username?: string; error?: string }): string {
  const action = `/sso/login?service=${encodeURIComponent(options.service)}`
  const error = options.error ? `<p class="login-error" role="alert">${_escape(options.error)}</p>` : ''
  // Like the real SSO, the visible `_show` inputs have no name: a submit
  // handler copies them into the hidden fields that are posted.
  const form = `<h1>XJTLU Single Sign-On (simulated)</h1>
<form id="fm1" method="post" action="${_escape(action)}">
  ${error}
  <label>Username <input id="username_show" type="text" autocomplete="username" value="${_escape(options.username ?? '')}"></label>
  <label>Password <input id="password_show" type="password" autocomplete="current-password"></label>
  <input type="hidden" name="username"><input type="hidden" name="password">
  <div id="btn_login"><input type="submit" value="Log in"></div>
</form>`
  const script = `window.addEventListener('step-revealed', () => {
  const form = document.getElementById('fm1')
  form.addEventListener('submit', () => {
    form.elements.username.value = document.getElementById('username_show').value
    form.elements.password.value = document.getElementById('password_show').value
  })
})`
  return _page('Login - XJTLU SSO', form, options.delayMs, script)
}

function _renderPortal(delayMs: number, withoutLink: boolean): string {
  const link = withoutLink ? '<p>No applications available.</p>' : `<a href='/v3/chat'>XIPU AI Chat</a>`
  return _page('XIPU AI', `<h1>XIPU AI (simulated)</h1><nav>${link}</nav>`, delayMs)
}

function _renderChatPage(options: {
  login: IssuedCredentials
  apiPath: string
  delayMs: number
  withButton: boolean
  withApiCall: boolean
  mode: ChatPageMode
  gapMs: number
}): string {
  const button = options.withButton
    ? '<button type="button" class="n-button" id="new-chat"><span class="n-button__content">New Chat</span></button>'
    : '<p>Chat is unavailable.</p>'
  const step = `<h1>XIPU AI Chat (simulated)</h1>${button}<div id="chat"></div><p id="status"></p>`
  const login = { token: options.login.jmToken, sdpSession: options.login.sdpSession, account: options.login.username }
  // The real web app keeps its JWT in localStorage under btoa("__XP_JM_USER__").
  // Its calls keep the platform's gap between them, as a page must that does not want a 429.
  const script = `const LOGIN = ${_scriptJson(login)}
const API = ${_scriptJson(options.apiPath)}
const MODE = ${_scriptJson(options.mode)}
const CALLS = ${options.withApiCall}
const GAP_MS = ${options.gapMs + 50}
localStorage.setItem(btoa('__XP_JM_USER__'), JSON.stringify({ token: LOGIN.token, account: LOGIN.account }))
const pause = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
async function callApi(path, body) {
  const query = body ? '?sf_request_type=ajax' : '?lang=en&sf_request_type=ajax'
  const res = await fetch(API + '/' + path + query, {
    method: body ? 'POST' : 'GET',
    credentials: 'include',
    headers: {
      accept: 'application/json, text/plain, */*',
      'content-type': 'application/json',
      'jm-token': LOGIN.token,
      'sdp-app-session': LOGIN.sdpSession,
    },
    body: body ? JSON.stringify({ ...body, lang: 'en' }) : undefined,
  })
  const reply = await res.json()
  if (!res.ok || (reply.code !== 0 && reply.code !== '0')) throw new Error(reply.msg)
  return reply.data
}
async function showChats() {
  const status = document.getElementById('status')
  try {
    status.textContent = (await callApi('session')).length + ' chats'
  } catch (error) {
    status.textContent = 'Error: ' + error.message
  }
}
window.addEventListener('step-revealed', () => {
  if (CALLS && MODE === 'calls-on-load') {
    // Once mounted, as a single-page app does (the button is already on screen):
    // the catalog for the model picker, then the chat list for the sidebar.
    pause(400).then(() => callApi('config')).then(() => pause(GAP_MS)).then(showChats).catch(() => {})
  }
  const button = document.getElementById('new-chat')
  if (!button) return
  button.addEventListener('click', () => setTimeout(startChat, ${options.delayMs}))
})
async function startChat() {
  document.getElementById('chat').replaceChildren(document.createElement('textarea'))
  if (!CALLS) return
  if (MODE !== 'lists-on-click') {
    // As chat web apps do: "New Chat" creates the session at once, then the sidebar reloads.
    try {
      const created = await callApi('saveSession', { name: 'New Chat', model: 'gpt-4.1', temperature: 0.7, maxToken: 0, presencePenalty: 0, frequencyPenalty: 0, contextCount: 5 })
      document.getElementById('chat').dataset.sessionId = String(created.id)
    } catch (error) {
      document.getElementById('status').textContent = 'Error: ' + error.message
      return
    }
    await pause(GAP_MS)
  }
  await showChats()
}`
  return _page('XIPU AI', step, options.delayMs, script)
}
