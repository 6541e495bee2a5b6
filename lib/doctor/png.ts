/**
 * A tiny PNG of one solid colour, made here (no image library): the doctor
 * uploads it and asks a multimodal model what colour it is.
 */
import { crc32, deflateSync } from 'node:zlib'

const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])

/**
 * A `size`×`size` RGB PNG filled with `rgb`.
 *
 * @example
 * const png = createSolidPng([220, 20, 20], 32) // about 100 bytes of red
 */
export function createSolidPng(rgb: [number, number, number], size = 32): Buffer {
  const header = Buffer.alloc(13)
  header.writeUInt32BE(size, 0)
  header.writeUInt32BE(size, 4)
  header[8] = 8 // bits per channel
  header[9] = 2 // colour type: RGB
  // Bytes 10-12: deflate, adaptive filtering, no interlace (all 0).
  const row = Buffer.alloc(1 + size * 3) // a filter byte (0: none), then the pixels
  for (let x = 0; x < size; x++) row.set(rgb, 1 + x * 3)
  const pixels = Buffer.concat(Array.from({ length: size }, () => row))
  return Buffer.concat([SIGNATURE, _chunk('IHDR', header), _chunk('IDAT', deflateSync(pixels)), _chunk('IEND', Buffer.alloc(0))])
}

function _chunk(type: string, data: Buffer): Buffer {
  const length = Buffer.alloc(4)
  length.writeUInt32BE(data.length)
  const typed = Buffer.concat([Buffer.from(type, 'ascii'), data])
  const crc = Buffer.alloc(4)
  crc.writeUInt32BE(crc32(typed))
  return Buffer.concat([length, typed, crc])
}
