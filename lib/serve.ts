/**
 * Serves an h3 app over HTTP with `node:http`. Port 0 means a random free port
 * (tests); any other port is used exactly, or startup fails with a clear
 * message, because a client pasted that URL and a silent fallback would break it.
 *
 * Plain `node:http` rather than listhen: listhen wraps the server in
 * http-shutdown, whose `finish` handler reads `req.socket` and throws (an
 * uncaught exception that ends the process) when a request was destroyed
 * before its response finished, as a body refused halfway with 413 is.
 */
import { createServer, type Server } from 'node:http'
import { toNodeHandler, type H3 } from 'h3'
import { XipuError } from './errors.ts'

export interface RunningServer {
  /** Base URL without a trailing slash, e.g. `http://127.0.0.1:8000`. */
  url: string
  port: number
  server: Server
  /** Stops accepting, then ends open connections after `graceMs`. */
  close(graceMs?: number): Promise<void>
}

/**
 * @example
 * const { url, close } = await serveApp(app, { host: '127.0.0.1', port: 0 })
 */
export async function serveApp(app: H3, options: { host: string; port: number }): Promise<RunningServer> {
  const server = createServer(toNodeHandler(app))
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(options.port, options.host, () => {
        server.off('error', reject)
        resolve()
      })
    })
  } catch (error) {
    throw new XipuError('E_CONFIG', `Cannot listen on ${options.host}:${options.port} (${(error as Error).message}). Set PORT to a free port.`, { cause: error })
  }
  const address = server.address()
  const actualPort = typeof address === 'object' && address ? address.port : options.port
  const host = options.host.includes(':') ? `[${options.host}]` : options.host
  return {
    url: `http://${host}:${actualPort}`,
    port: actualPort,
    server,
    async close(graceMs = 0) {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()))
      server.closeIdleConnections()
      // A keep-alive connection turns idle when its stream finishes during the grace:
      // close each then, so that shutdown ends with the last stream, not the grace.
      const sweep = setInterval(() => server.closeIdleConnections(), 50)
      const timer = setTimeout(() => server.closeAllConnections(), graceMs)
      await closed
      clearInterval(sweep)
      clearTimeout(timer)
    },
  }
}
