/**
 * The neutral image input every API surface produces (chat completions'
 * `image_url` parts, the Responses API's `input_image`, Anthropic's `image`
 * blocks): bytes the client sent, or a URL to fetch. The pipeline checks,
 * fetches and uploads them (lib/images/resolve.ts); nothing here knows an
 * API's wire shape.
 */
import { XipuError } from '../errors.ts'

/** One image of a request, in the order the conversation holds them. */
export type ImageInput = (
  | {
      kind: 'data'
      /** The type the client declared (never trusted: the bytes are sniffed). */
      mediaType?: string
      bytes: Uint8Array
    }
  | { kind: 'url'; url: string }
) & {
  /** Where the image is in the client's request, for error messages (`messages[0].content[1]`). */
  param?: string
}

/** What marks image `n` (1-based) in the flattened prompt, so that the model can tell the images apart. */
export function formatImageMarker(n: number): string {
  return `[Image ${n}]`
}

const DATA_URL = /^data:([^,]*?),/i

/**
 * Reads an image URL as a client sent it: a `data:` URL becomes bytes, an
 * `http(s)` URL stays a URL (fetched later, safely). Anything else is a 400.
 *
 * @example
 * readImageUrl('data:image/png;base64,iVBORw0KGgo…', 'messages[0].content[1]')
 * // { kind: 'data', mediaType: 'image/png', bytes: Uint8Array(…), param: 'messages[0].content[1]' }
 */
export function readImageUrl(url: string, param?: string): ImageInput {
  const trimmed = url.trim()
  const match = DATA_URL.exec(trimmed)
  if (match) {
    const meta = match[1]!.split(';').map((s) => s.trim())
    const isBase64 = meta.slice(1).some((m) => m.toLowerCase() === 'base64')
    const payload = trimmed.slice(match[0].length)
    const bytes = isBase64 ? decodeBase64(payload, param) : _decodePercent(payload, param)
    return { kind: 'data', mediaType: meta[0] || undefined, bytes, param }
  }
  if (/^https?:\/\//i.test(trimmed)) {
    try {
      return { kind: 'url', url: new URL(trimmed).href, param }
    } catch {
      // Reported below.
    }
  }
  throw new XipuError('E_BAD_REQUEST', `The image ${_where(param)}must be a data: URL (data:image/png;base64,…) or an http(s) URL.`, { param })
}

/**
 * Decodes base64 (standard or URL-safe, whitespace allowed), refusing text
 * that is not base64 rather than silently dropping characters as Buffer does.
 *
 * @example
 * decodeBase64('iVBORw0KGgo=') // Uint8Array [137, 80, 78, 71, 13, 10, 26, 10]
 */
export function decodeBase64(text: string, param?: string): Uint8Array {
  const clean = text.replace(/\s+/g, '')
  if (!/^[A-Za-z0-9+/_-]*={0,2}$/.test(clean) || clean.replace(/=+$/, '').length % 4 === 1) {
    throw new XipuError('E_BAD_REQUEST', `The image ${_where(param)}is not valid base64.`, { param })
  }
  return new Uint8Array(Buffer.from(clean, 'base64'))
}

function _decodePercent(text: string, param: string | undefined): Uint8Array {
  try {
    return new Uint8Array(Buffer.from(decodeURIComponent(text), 'latin1'))
  } catch {
    throw new XipuError('E_BAD_REQUEST', `The image ${_where(param)}is a data: URL with broken %-escapes.`, { param })
  }
}

function _where(param: string | undefined): string {
  return param ? `at ${param} ` : ''
}
