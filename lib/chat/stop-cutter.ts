/**
 * The `stop` sequences: cuts the relayed text where the first one appears,
 * holding back only what could still be the start of one (at most the
 * longest stop sequence minus one character), whatever the pieces' sizes.
 *
 * Each stop is matched as the text streams by, one character at a time
 * (Knuth–Morris–Pratt), so nothing is searched twice and the held-back text
 * lives in one queue of the pieces as they came. What is relayed is joined
 * from those pieces into a fresh string: a slice of one big buffer would keep
 * the whole buffer alive for as long as the answer is kept, once per piece
 * (a 200,000-character stop over a 2 MB answer ran the process out of memory).
 */
import { XipuError } from '../errors.ts'

/** OpenAI's own limit on `stop`: up to 4 sequences. */
export const STOP_MAX_COUNT = 4
/** No real stop sequence is longer; the bound keeps what is held back (and matched) small. */
export const STOP_MAX_LENGTH = 1000

/**
 * Checks a request's stop sequences (for every API surface); throws 400
 * `E_BAD_REQUEST` naming `param` when there are too many or one is too long.
 *
 * @example
 * checkStopSequences(['\n\nUser:'], 'stop') // passes
 */
export function checkStopSequences(stops: string[], param: string, maxCount = STOP_MAX_COUNT): void {
  if (stops.length > maxCount) {
    throw new XipuError('E_BAD_REQUEST', `Invalid value for '${param}': at most ${maxCount} stop sequences are allowed (got ${stops.length}).`, { param })
  }
  stops.forEach((stop, i) => {
    if (stop.length > STOP_MAX_LENGTH) {
      const at = stops.length > 1 ? `${param}[${i}]` : param
      throw new XipuError('E_BAD_REQUEST', `Invalid value for '${at}': a stop sequence may be at most ${STOP_MAX_LENGTH} characters long (got ${stop.length}).`, { param: at })
    }
  })
}

interface _Matcher {
  stop: string
  /** `fail[i]`: length of the longest proper prefix of `stop[0..i]` that is also its suffix. */
  fail: Int32Array
  /** How many characters of `stop` the text seen so far ends with. */
  matched: number
}

function _createMatcher(stop: string): _Matcher {
  const fail = new Int32Array(stop.length)
  for (let i = 1, k = 0; i < stop.length; i++) {
    while (k > 0 && stop.charCodeAt(i) !== stop.charCodeAt(k)) k = fail[k - 1]!
    if (stop.charCodeAt(i) === stop.charCodeAt(k)) k++
    fail[i] = k
  }
  return { stop, fail, matched: 0 }
}

/** Advances a matcher by one character; true when the whole stop sequence just ended here. */
function _advance(m: _Matcher, code: number): boolean {
  let k = m.matched
  while (k > 0 && m.stop.charCodeAt(k) !== code) k = m.fail[k - 1]!
  if (m.stop.charCodeAt(k) === code) k++
  if (k === m.stop.length) {
    m.matched = m.fail[k - 1]!
    return true
  }
  m.matched = k
  return false
}

function _isHighSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff
}

/**
 * @example
 * const cutter = createStopCutter(['STOP'])
 * cutter.push('hello S') // { text: 'hel', stopped: false }
 * cutter.push('TOP!')    // { text: 'lo ', stopped: true, sequence: 'STOP' }
 */
export function createStopCutter(stops: string[]) {
  const matchers = stops.filter((s) => s !== '').map(_createMatcher)
  const holdMax = Math.max(0, ...matchers.map((m) => m.stop.length - 1))
  // The held-back pieces, oldest first, from `head` on (a moving head: shift() would be quadratic).
  let held: string[] = []
  let head = 0
  let heldLength = 0

  /** Takes `count` characters off the front of the held pieces. */
  function _take(count: number, out: string[]): void {
    while (count > 0) {
      const piece = held[head]!
      if (piece.length <= count) {
        out.push(piece)
        count -= piece.length
        heldLength -= piece.length
        head++
      } else {
        out.push(piece.slice(0, count))
        held[head] = piece.slice(count)
        heldLength -= count
        count = 0
      }
    }
    if (head > 1024 && head * 2 > held.length) {
      held = held.slice(head)
      head = 0
    }
  }

  function _drop(): void {
    held = []
    head = 0
    heldLength = 0
  }

  return {
    /** Adds text; returns what may be relayed now, and whether a stop sequence was hit. */
    push(text: string): { text: string; stopped: boolean; sequence?: string } {
      if (matchers.length === 0) return { text, stopped: false }
      // The first stop sequence to be complete wins (as when a model stops mid-generation);
      // of two that end on the same character, the longer one started first.
      let cutAt = -1
      let sequence: string | undefined
      for (let i = 0; i < text.length && cutAt === -1; i++) {
        const code = text.charCodeAt(i)
        for (const m of matchers) {
          if (_advance(m, code)) {
            const start = heldLength + i + 1 - m.stop.length
            if (cutAt === -1 || start < cutAt) {
              cutAt = start
              sequence = m.stop
            }
          }
        }
      }
      const out: string[] = []
      if (cutAt !== -1) {
        const fromHeld = Math.min(cutAt, heldLength)
        _take(fromHeld, out)
        if (cutAt > fromHeld) out.push(text.slice(0, cutAt - fromHeld))
        _drop()
        return { text: out.join(''), stopped: true, sequence }
      }
      if (text !== '') {
        held.push(text)
        heldLength += text.length
      }
      let release = heldLength - holdMax
      if (release <= 0) return { text: '', stopped: false }
      // Never split a surrogate pair between two chunks.
      if (_isHighSurrogate(_charAt(held, head, release - 1))) release--
      _take(release, out)
      return { text: out.join(''), stopped: false }
    },
    /** What is still held back once the answer ended without a stop sequence. */
    flush(): string {
      const out = held.slice(head).join('')
      _drop()
      return out
    },
  }
}

/** The UTF-16 code at `index` of the held pieces joined (from piece `head` on). */
function _charAt(pieces: string[], head: number, index: number): number {
  for (let i = head; i < pieces.length; i++) {
    const piece = pieces[i]!
    if (index < piece.length) return piece.charCodeAt(index)
    index -= piece.length
  }
  return 0
}
