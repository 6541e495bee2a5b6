/**
 * Raw HTTP requests with `node:http`, for the headers fetch will not let a
 * test set (`Host`), or sets on its own (`content-type: text/plain` for a
 * string body).
 */
import { request } from 'node:http'

export interface RawReply {
  status: number
  headers: Record<string, string | string[] | undefined>
  text: string
  /** The body parsed as JSON, or undefined when it is not JSON. */
  json: any
}

/**
 * Sends one request to `url` (only its port and path are used: the
 * connection always goes to 127.0.0.1) with exactly `headers`: nothing is added
 * but `content-length` for a body, and `host` (the URL's) when not given.
 *
 * @example
 * const reply = await sendRaw(`${adapter.url}/health`, { headers: { host: 'evil.example' } })
 */
export function sendRaw(url: string, options: { method?: string; headers?: Record<string, string>; body?: string | Buffer } = {}): Promise<RawReply> {
  const target = new URL(url)
  // The URL's own host unless the test names one.
  const headers: Record<string, string> = { host: target.host, ...options.headers }
  if (options.body !== undefined) headers['content-length'] = String(Buffer.byteLength(options.body))
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port: Number(target.port), path: `${target.pathname}${target.search}`, method: options.method ?? 'GET', headers, setHost: false },
      (res) => {
        const chunks: Buffer[] = []
        res.on('data', (chunk: Buffer) => chunks.push(chunk))
        res.on('error', reject)
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8')
          let json: unknown
          try {
            json = JSON.parse(text)
          } catch {
            json = undefined
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json })
        })
      },
    )
    req.on('error', reject)
    req.end(options.body)
  })
}
