/**
 * What an image really is, by its first bytes: the declared type (a data:
 * URL's, a server's content-type) is never trusted, and only the four formats
 * every multimodal model takes are let through.
 */

export interface ImageKind {
  /** `image/png`, `image/jpeg`, `image/gif` or `image/webp`. */
  mediaType: string
  /** The file name extension the upload gets (`png`). */
  extension: string
}

const PNG = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]
const JPEG = [0xff, 0xd8, 0xff]

function _startsWith(bytes: Uint8Array, prefix: number[], at = 0): boolean {
  return bytes.length >= at + prefix.length && prefix.every((b, i) => bytes[at + i] === b)
}

function _ascii(text: string): number[] {
  return [...text].map((c) => c.charCodeAt(0))
}

/**
 * The format of `bytes` by their magic numbers, or undefined when they are not
 * a PNG, JPEG, GIF or WebP image.
 *
 * @example
 * sniffImage(new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) // { mediaType: 'image/png', extension: 'png' }
 */
export function sniffImage(bytes: Uint8Array): ImageKind | undefined {
  if (_startsWith(bytes, PNG)) return { mediaType: 'image/png', extension: 'png' }
  if (_startsWith(bytes, JPEG)) return { mediaType: 'image/jpeg', extension: 'jpg' }
  if (_startsWith(bytes, _ascii('GIF87a')) || _startsWith(bytes, _ascii('GIF89a'))) return { mediaType: 'image/gif', extension: 'gif' }
  // RIFF, a 4-byte size, then WEBP.
  if (_startsWith(bytes, _ascii('RIFF')) && _startsWith(bytes, _ascii('WEBP'), 8)) return { mediaType: 'image/webp', extension: 'webp' }
  return undefined
}
