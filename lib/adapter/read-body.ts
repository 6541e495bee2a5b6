/**
 * Reading a request's JSON body, for every route that takes one: refused
 * with 413 as soon as it is over `XIPU_BODY_LIMIT`, before it is all read.
 */
import type { H3Event } from 'h3'
import { XipuError } from '../errors.ts'

/**
 * @example
 * const body = await readJsonBody(event, settings.bodyLimit)
 */
export async function readJsonBody(event: H3Event, limit: number): Promise<unknown> {
  const tooLarge = () => new XipuError('E_BODY_TOO_LARGE', `The request body is over the limit of ${limit} bytes (XIPU_BODY_LIMIT).`)
  const declared = Number(event.req.headers.get('content-length') ?? '0')
  if (declared > limit) throw tooLarge()
  const chunks: Uint8Array[] = []
  let size = 0
  if (event.req.body) {
    for await (const chunk of event.req.body as unknown as AsyncIterable<Uint8Array>) {
      size += chunk.byteLength
      if (size > limit) throw tooLarge()
      chunks.push(chunk)
    }
  }
  // Some Windows tools (PowerShell's Out-File, Notepad) start a JSON file with a UTF-8 byte-order mark; JSON.parse would refuse it.
  const text = Buffer.concat(chunks).toString('utf8').replace(/^\uFEFF/, '')
  if (text.trim() === '') throw new XipuError('E_BAD_REQUEST', 'The request body is empty: send a JSON object (the request).', { param: 'body' })
  try {
    return JSON.parse(text) as unknown
  } catch {
    throw new XipuError('E_BAD_REQUEST', 'The request body is not valid JSON.', { param: 'body' })
  }
}
