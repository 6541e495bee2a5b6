/**
 * Reading a request's JSON body, for every route that takes one: refused
 * with 413 as soon as it is over `XIPU_BODY_LIMIT`, before it is all read.
 * h3 counts the bytes as they arrive (`assertBodySize`, which also catches a
 * chunked body or a lying Content-Length) and parses (`readBody`); this
 * module only puts our messages on its errors.
 */
import { assertBodySize, HTTPError, readBody, type H3Event } from 'h3'
import { XipuError } from '../errors.ts'

/**
 * @example
 * const body = await readJsonBody(event, settings.bodyLimit)
 */
export async function readJsonBody(event: H3Event, limit: number): Promise<unknown> {
  let body: unknown
  try {
    assertBodySize(event, limit)
    // JSON whatever the Content-Type says; the UTF-8 decoder drops the byte-order mark
    // some Windows tools (PowerShell's Out-File, Notepad) start a JSON file with.
    body = await readBody(event, { type: 'json' })
  } catch (error) {
    throw _explain(error, limit)
  }
  if (body === undefined) throw new XipuError('E_BAD_REQUEST', 'The request body is empty: send a JSON object (the request).', { param: 'body' })
  return body
}

function _explain(error: unknown, limit: number): unknown {
  if (!HTTPError.isError(error)) return error
  if (error.status === 413) return new XipuError('E_BODY_TOO_LARGE', `The request body is over the limit of ${limit} bytes (XIPU_BODY_LIMIT).`)
  if (error.status === 400 && /JSON/i.test(error.message)) return new XipuError('E_BAD_REQUEST', 'The request body is not valid JSON.', { param: 'body' })
  if (error.status === 400) return new XipuError('E_BAD_REQUEST', 'A request with both Content-Length and Transfer-Encoding is refused.', { param: 'body' })
  return error
}
