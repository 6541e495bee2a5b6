/**
 * The status page a browser gets at `/`: one self-contained HTML document
 * (no CDN, no external file: it works offline), holding no data of its own.
 * Its script polls `/status.json` every two seconds and fills the page with
 * `textContent` only (model names come from the platform: never parsed as
 * HTML). With ADAPTER_API_KEY set it asks for the key once and keeps it in
 * the tab's sessionStorage.
 */

// Polling rather than server-sent events: one small request every two seconds
// survives proxies, sleeping laptops and restarts of the adapter without any
// reconnection logic, and the page shows "connection lost" when it fails.
const POLL_MS = 2000

const STYLE = `
:root { color-scheme: light dark; --bg: #f6f7f9; --card: #fff; --text: #1d2430; --muted: #6b7483; --line: #e3e6eb; --ok: #1a7f37; --warn: #9a6700; --bad: #cf222e; --accent: #0969da; }
@media (prefers-color-scheme: dark) { :root { --bg: #0f1217; --card: #181c23; --text: #e6e9ee; --muted: #8b94a3; --line: #2a303a; --ok: #3fb950; --warn: #d29922; --bad: #f85149; --accent: #4493f8; } }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", "PingFang SC", "Microsoft YaHei", sans-serif; background: var(--bg); color: var(--text); }
header { display: flex; flex-wrap: wrap; align-items: baseline; gap: .4rem 1rem; padding: 1rem 1.5rem; border-bottom: 1px solid var(--line); background: var(--card); }
header h1 { font-size: 1.15rem; margin: 0; }
header .meta { color: var(--muted); }
header nav { margin-left: auto; }
a { color: var(--accent); }
main { display: grid; gap: 1rem; padding: 1rem 1.5rem 2rem; grid-template-columns: repeat(auto-fit, minmax(260px, 1fr)); max-width: 1400px; }
section { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: .9rem 1rem; min-width: 0; }
section.wide { grid-column: 1 / -1; }
@media (min-width: 1100px) { section.span3 { grid-column: span 3; } }
h2 { font-size: .8rem; text-transform: uppercase; letter-spacing: .06em; color: var(--muted); margin: 0 0 .5rem; font-weight: 600; }
.big { font-size: 1.6rem; font-variant-numeric: tabular-nums; font-weight: 600; }
.muted { color: var(--muted); }
.ok { color: var(--ok); } .warn { color: var(--warn); } .bad { color: var(--bad); }
.dot { display: inline-block; width: .6rem; height: .6rem; border-radius: 50%; background: var(--muted); margin-right: .35rem; vertical-align: baseline; }
.dot.ok { background: var(--ok); } .dot.bad { background: var(--bad); } .dot.warn { background: var(--warn); }
dl { display: grid; grid-template-columns: auto 1fr; gap: .2rem .8rem; margin: .5rem 0 0; }
dt { color: var(--muted); } dd { margin: 0; font-variant-numeric: tabular-nums; }
table { width: 100%; border-collapse: collapse; font-variant-numeric: tabular-nums; }
th, td { text-align: left; padding: .3rem .5rem; border-bottom: 1px solid var(--line); white-space: nowrap; }
td.prompt { white-space: normal; color: var(--muted); max-width: 30rem; }
th { color: var(--muted); font-weight: 500; font-size: .8rem; }
.chips { display: flex; flex-wrap: wrap; gap: .3rem; }
.chip { border: 1px solid var(--line); border-radius: 999px; padding: .05rem .55rem; font-size: .85rem; }
.chip.mm { border-color: var(--accent); }
.chip.mm::after { content: " · image"; color: var(--accent); font-size: .75rem; }
ul.plain { list-style: none; margin: 0; padding: 0; }
ul.plain li { padding: .25rem 0; border-bottom: 1px solid var(--line); }
ul.plain li:last-child { border-bottom: 0; }
.scroll { overflow-x: auto; }
#key { display: none; grid-column: 1 / -1; }
#key form { display: flex; gap: .5rem; flex-wrap: wrap; align-items: center; }
#key input { font: inherit; padding: .35rem .5rem; min-width: 18rem; border: 1px solid var(--line); border-radius: 6px; background: var(--bg); color: var(--text); }
#key button { font: inherit; padding: .35rem .8rem; border-radius: 6px; border: 1px solid var(--accent); background: var(--accent); color: #fff; cursor: pointer; }
`

const SCRIPT = `
const POLL_MS = ${POLL_MS}
const KEY = 'xipu-openai.apiKey'
const $ = (id) => document.getElementById(id)
let last = null
let offset = 0

function el(tag, text, cls) {
  const node = document.createElement(tag)
  if (text !== undefined && text !== null) node.textContent = String(text)
  if (cls) node.className = cls
  return node
}
function duration(ms) {
  if (ms === null || ms === undefined || !isFinite(ms)) return '—'
  const sign = ms < 0 ? '-' : ''
  let s = Math.floor(Math.abs(ms) / 1000)
  const h = Math.floor(s / 3600); s -= h * 3600
  const m = Math.floor(s / 60); s -= m * 60
  const pad = (n) => String(n).padStart(2, '0')
  return sign + (h > 0 ? h + 'h ' + pad(m) + 'm ' + pad(s) + 's' : m > 0 ? m + 'm ' + pad(s) + 's' : s + 's')
}
function ms(value) { return value === null || value === undefined ? '—' : value < 1000 ? value + ' ms' : (value / 1000).toFixed(1) + ' s' }
function clock(t) { return new Date(t).toLocaleTimeString() }
function when(t) { return new Date(t).toLocaleString() }
function fill(id, nodes) { $(id).replaceChildren(...nodes) }
function pairs(list) { const out = []; for (const [k, v, cls] of list) { out.push(el('dt', k)); out.push(el('dd', v, cls)) } return out }

function renderClock() {
  if (!last) return
  const now = Date.now() + offset
  const t = last.token
  if (!t.present) { $('token-left').textContent = 'no token'; $('token-left').className = 'big bad' }
  else if (t.expiresAt === null) { $('token-left').textContent = t.valid === false ? 'not a JWT' : 'no expiry'; $('token-left').className = 'big' }
  else {
    const left = t.expiresAt - now
    $('token-left').textContent = left > 0 ? duration(left) : 'expired'
    $('token-left').className = 'big ' + (left <= 0 ? 'bad' : left < 15 * 60000 ? 'warn' : 'ok')
  }
  const k = last.keepalive
  $('renewal').textContent = k.nextRenewalAt === null ? 'not needed' : k.nextRenewalAt <= now ? 'due now' : 'in ' + duration(k.nextRenewalAt - now)
  $('uptime').textContent = 'up ' + duration(now - last.startedAt)
}

function render(s) {
  last = s
  offset = s.now - Date.now()
  $('state').className = 'dot ' + (s.status === 'ok' ? 'ok' : 'warn')
  $('state-text').textContent = s.status === 'ok' ? 'serving' : s.status.replace('_', ' ')
  $('api-base').textContent = s.apiBase
  fill('token-facts', pairs([
    ['expires', s.token.expiresAt ? when(s.token.expiresAt) : '—'],
    ['keepalive', s.keepalive.running],
    ['next renewal', '', ''],
    ['re-login', s.keepalive.credentials ? 'possible (credentials saved)' : 'needs npx tsx auth.ts', s.keepalive.credentials ? '' : 'warn'],
  ]))
  $('token-facts').children[5].id = 'renewal'
  const q = s.queue
  $('queue-now').textContent = String(q.request)
  fill('queue-facts', pairs([['cleanup', q.cleanup], ['idle', q.idle], ['gap', q.gapMs + ' ms'], ['calls so far', q.calls]]))
  $('sessions-now').textContent = String(s.sessions.active)
  fill('sessions-facts', pairs([['open (journal)', s.sessions.inFlight], ['pooled (free)', s.sessions.pooled + ' (' + s.sessions.pooledFree + ')'], ['kept ready', s.sessions.ready ? 'yes' : 'no'], ['requests so far', s.requests.total]]))

  const problems = s.problems.map((p) => { const li = el('li'); li.append(el('span', clock(p.at) + ' ', 'muted'), el('span', p.message, p.level === 'error' ? 'bad' : 'warn')); return li })
  fill('problems', problems.length ? problems : [el('li', 'None.', 'muted')])

  const head = ['time', 'API', 'model', 'status', 'first token', 'duration'].concat(s.logPrompts ? ['prompt'] : [])
  const rows = s.requests.last.map((r) => {
    const tr = el('tr')
    const code = Number(r.status)
    tr.append(el('td', clock(r.at)), el('td', r.api + (r.stream ? ' (stream)' : '')), el('td', r.model), el('td', r.status, code >= 200 && code < 300 ? 'ok' : code >= 400 || !isFinite(code) ? 'bad' : ''), el('td', ms(r.firstTokenMs)), el('td', ms(r.durationMs)))
    if (s.logPrompts) tr.append(el('td', r.prompt || '', 'prompt'))
    if (r.error) tr.title = r.error
    return tr
  })
  const thead = el('tr'); for (const h of head) thead.append(el('th', h))
  fill('requests', [thead, ...(rows.length ? rows : [(() => { const tr = el('tr'); const td = el('td', 'No requests yet.', 'muted'); td.colSpan = head.length; tr.append(td); return tr })()])])

  const calls = s.calls.map((c) => { const li = el('li'); li.append(el('span', clock(c.at) + ' ', 'muted'), el('span', c.label), el('span', c.gapMs === undefined ? '' : '  +' + ms(c.gapMs), 'muted')); return li })
  fill('calls', calls.length ? calls : [el('li', 'No platform calls yet.', 'muted')])

  const mm = s.models.list.filter((m) => m.multimodal).length
  $('models-summary').textContent = s.models.list.length + ' models' + (mm ? ', ' + mm + ' take images' : '') + ' (' + (s.models.source === 'platform' ? "the platform's catalog" : s.models.source === 'builtin' ? 'built-in list: the catalog could not be read' : 'unavailable') + ')'
  fill('models', s.models.list.map((m) => { const chip = el('span', m.id, 'chip' + (m.multimodal ? ' mm' : '')); if (m.label) chip.title = m.label; return chip }))
  renderClock()
}

async function poll() {
  const key = sessionStorage.getItem(KEY)
  try {
    const response = await fetch('/status.json', { headers: key ? { authorization: 'Bearer ' + key } : {}, cache: 'no-store' })
    if (response.status === 401) {
      sessionStorage.removeItem(KEY)
      $('key').style.display = 'block'
      $('key-hint').textContent = key ? 'That key was not accepted.' : 'This adapter needs its API key (ADAPTER_API_KEY) to show its status.'
      $('conn').textContent = 'waiting for the API key'
      return
    }
    if (!response.ok) throw new Error('HTTP ' + response.status)
    $('key').style.display = 'none'
    render(await response.json())
    $('conn').textContent = 'updated ' + new Date().toLocaleTimeString()
    $('conn').className = 'muted'
  } catch (error) {
    $('conn').textContent = 'connection lost (' + error.message + '): retrying'
    $('conn').className = 'bad'
  } finally {
    setTimeout(poll, POLL_MS)
  }
}

$('key-form').addEventListener('submit', (event) => {
  event.preventDefault()
  const value = $('key-input').value.trim()
  if (!value) return
  sessionStorage.setItem(KEY, value)
  $('key-input').value = ''
  $('key').style.display = 'none'
})
setInterval(renderClock, 1000)
poll()
`

const BODY = `
<header>
  <h1><span id="state" class="dot"></span>xipu-openai</h1>
  <span class="meta"><span id="state-text">connecting…</span> · <span id="uptime"></span> · platform <span id="api-base"></span></span>
  <span id="conn" class="muted"></span>
  <nav><a href="/docs">API docs</a> · <a href="/openapi.json">openapi.json</a> · <a href="/health">health</a></nav>
</header>
<main>
  <section id="key"><h2>API key</h2><p id="key-hint" class="muted"></p>
    <form id="key-form"><input id="key-input" type="password" autocomplete="off" placeholder="ADAPTER_API_KEY"><button type="submit">Show status</button>
    <span class="muted">Kept in this tab only (sessionStorage).</span></form></section>
  <section><h2>Token</h2><div id="token-left" class="big">—</div><dl id="token-facts"></dl></section>
  <section><h2>Queue: requests waiting</h2><div id="queue-now" class="big">—</div><dl id="queue-facts"></dl></section>
  <section><h2>Sessions in use</h2><div id="sessions-now" class="big">—</div><dl id="sessions-facts"></dl></section>
  <section><h2>Problems worth knowing</h2><ul id="problems" class="plain"></ul></section>
  <section class="wide span3"><h2>Last requests</h2><div class="scroll"><table id="requests"></table></div></section>
  <section><h2>Platform calls (pacer)</h2><ul id="calls" class="plain"></ul></section>
  <section class="wide"><h2>Models</h2><p id="models-summary" class="muted"></p><div id="models" class="chips"></div></section>
</main>
`

/** The Content-Security-Policy of the page: nothing from elsewhere, no framing. */
export const STATUS_PAGE_CSP = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

/**
 * @example
 * new Response(renderStatusPage(), { headers: { 'content-type': 'text/html; charset=utf-8' } })
 */
export function renderStatusPage(): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>xipu-openai status</title>
<style>${STYLE}</style>
</head>
<body>${BODY}<script>${SCRIPT}</script>
</body>
</html>`
}
