/**
 * Serves an h3 app over HTTP with listhen. Port 0 means a random free port
 * (tests); any other port is used exactly, or startup fails with a clear
 * message, because a client pasted that URL and a silent fallback would break it.
 */
import type { Server } from 'node:http'
import { toNodeHandler, type H3 } from 'h3'
import { listen } from 'listhen'
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
  const port = options.port === 0 ? { random: true } : { port: options.port, portRange: [], alternativePortRange: [] }
  let listener: Awaited<ReturnType<typeof listen>>
  try {
    listener = await listen(toNodeHandler(app), {
      hostname: options.host,
      port: port as never,
      showURL: false,
      isProd: true,
      qr: false,
      public: false,
    })
  } catch (error) {
    throw new XipuError('E_CONFIG', `Cannot listen on ${options.host}:${options.port} (${(error as Error).message}). Set PORT to a free port.`, { cause: error })
  }
  const server = listener.server as Server
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
      const timer = setTimeout(() => server.closeAllConnections(), graceMs)
      await closed
      clearTimeout(timer)
    },
  }
}
