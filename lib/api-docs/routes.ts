/**
 * `/openapi.json` and `/docs`: the API description, and Swagger UI showing
 * it. Swagger UI's files are served from the installed `swagger-ui-dist`
 * package (no CDN: the page works offline), a fixed list of them, so that no
 * request path ever reaches the file system.
 */
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { getRouterParam, type H3 } from 'h3'
import { XipuError } from '../errors.ts'

// The files the page loads, and their types.
const ASSETS: Record<string, string> = {
  'swagger-ui.css': 'text/css; charset=utf-8',
  'swagger-ui-bundle.js': 'text/javascript; charset=utf-8',
  'favicon-32x32.png': 'image/png',
  'init.js': 'text/javascript; charset=utf-8',
}

// Swagger UI's own initializer points at a petstore: ours points at /openapi.json.
const INIT_SCRIPT = `window.ui = SwaggerUIBundle({ url: '/openapi.json', dom_id: '#swagger-ui', deepLinking: true, persistAuthorization: false, tryItOutEnabled: false })`

const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>xipu-openai API</title>
<link rel="icon" type="image/png" href="/docs/favicon-32x32.png">
<link rel="stylesheet" href="/docs/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/docs/swagger-ui-bundle.js"></script>
<script src="/docs/init.js"></script>
</body>
</html>`

const CSP = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; font-src 'self' data:; frame-ancestors 'none'; base-uri 'none'"

/**
 * @example
 * registerApiDocsRoutes(app)
 */
export function registerApiDocsRoutes(app: H3): void {
  let document: string | undefined
  const files = new Map<string, Buffer>()
  app.get('/openapi.json', async () => {
    // Loaded on first use: the generator and its registry cost about 10 MiB that an adapter serving only completions never needs.
    document ??= JSON.stringify((await import('./document.ts')).createOpenApiDocument())
    return new Response(document, { headers: { 'content-type': 'application/json; charset=utf-8' } })
  })
  app.get('/docs', () => new Response(PAGE, { headers: { 'content-type': 'text/html; charset=utf-8', 'content-security-policy': CSP, 'x-content-type-options': 'nosniff' } }))
  app.get('/docs/:file', (event) => {
    const name = getRouterParam(event, 'file') ?? ''
    const type = Object.hasOwn(ASSETS, name) ? ASSETS[name] : undefined
    if (!type) throw new XipuError('E_NOT_FOUND', `No such file: /docs/${name}`)
    let data = files.get(name)
    if (!data) {
      data = name === 'init.js' ? Buffer.from(INIT_SCRIPT) : readFileSync(join(_swaggerDir(), name))
      files.set(name, data)
    }
    return new Response(new Uint8Array(data), { headers: { 'content-type': type, 'cache-control': 'public, max-age=86400', 'x-content-type-options': 'nosniff' } })
  })
}

function _swaggerDir(): string {
  // Resolved from the installed package, wherever npm put it.
  return dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'))
}
