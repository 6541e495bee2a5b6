/**
 * Splits a model's answer, as it streams, into the prose before the first
 * tool call and the text inside each `<tool_call>` block. Prose passes
 * through at once; only a tail that could still turn into the envelope is
 * held back (a prefix of `<tool_call>`, a code fence opened just before it,
 * trailing whitespace), so the envelope never reaches a client as content.
 */

export const OPEN_TAG = '<tool_call>'
export const CLOSE_TAG = '</tool_call>'

export interface SplitPiece {
  /** Prose that may be relayed now (only ever before the first call). */
  prose: string
  /** The inside of each block that ended with this piece. */
  blocks: string[]
}

// A code fence opened (or being opened) on the last line with nothing after it yet: the envelope may come inside it.
const _OPEN_FENCE_AT_END = /(?:^|\n)[ \t]*(?:`{1,2}|```[\w-]*[ \t]*(?:\r?\n[ \t]*)?)$/

/** How much of `text`'s end is a proper prefix of `tag` (`<tool_` → 6). */
function _partialTagAtEnd(text: string, tag: string): number {
  for (let n = Math.min(tag.length - 1, text.length); n > 0; n--) {
    if (tag.startsWith(text.slice(-n))) return n
  }
  return 0
}

/** Where the held-back tail of prose starts. */
function _holdFrom(prose: string): number {
  let end = prose.length - _partialTagAtEnd(prose, OPEN_TAG)
  const fence = _OPEN_FENCE_AT_END.exec(prose.slice(0, end))
  if (fence) end = fence.index
  // Whitespace right before a call would be dropped with it: release it only once prose goes on.
  while (end > 0 && /\s/.test(prose[end - 1]!)) end--
  // Never split a surrogate pair between two chunks.
  if (end > 0 && /[\uD800-\uDBFF]/.test(prose[end - 1]!)) end--
  return end
}

/**
 * @example
 * const splitter = createToolCallSplitter()
 * splitter.push('Let me check.\n<tool_ca') // { prose: 'Let me check.', blocks: [] }
 * splitter.push('ll>{"name":"f","arguments":{}}</tool_call>') // { prose: '', blocks: ['{"name":"f","arguments":{}}'] }
 * splitter.end() // { prose: '', blocks: [] }
 */
export function createToolCallSplitter() {
  let buffer = ''
  let started = false
  let inCall = false

  function _drain(final: boolean): SplitPiece {
    const out: SplitPiece = { prose: '', blocks: [] }
    for (;;) {
      if (!started) {
        const at = buffer.indexOf(OPEN_TAG)
        if (at === -1) {
          const cut = final ? buffer.length : _holdFrom(buffer)
          out.prose += buffer.slice(0, cut)
          buffer = buffer.slice(cut)
          return out
        }
        const before = buffer.slice(0, at)
        const fence = _OPEN_FENCE_AT_END.exec(before)
        out.prose += (fence ? before.slice(0, fence.index) : before).trimEnd()
        buffer = buffer.slice(at + OPEN_TAG.length)
        started = true
        inCall = true
        continue
      }
      if (!inCall) {
        const at = buffer.indexOf(OPEN_TAG)
        if (at === -1) {
          // Text between or after calls is not part of the reply; keep only what may begin the next tag.
          buffer = final ? '' : buffer.slice(buffer.length - _partialTagAtEnd(buffer, OPEN_TAG))
          return out
        }
        buffer = buffer.slice(at + OPEN_TAG.length)
        inCall = true
        continue
      }
      const close = buffer.indexOf(CLOSE_TAG)
      const next = buffer.indexOf(OPEN_TAG)
      // A new block opening before this one closed ends this one (models forget a closing tag).
      if (next !== -1 && (close === -1 || next < close)) {
        out.blocks.push(buffer.slice(0, next))
        buffer = buffer.slice(next + OPEN_TAG.length)
        continue
      }
      if (close === -1) {
        // A block still open at the very end of the answer: the closing tag was left out.
        if (final) {
          if (buffer.trim() !== '') out.blocks.push(buffer)
          buffer = ''
        }
        return out
      }
      out.blocks.push(buffer.slice(0, close))
      buffer = buffer.slice(close + CLOSE_TAG.length)
      inCall = false
    }
  }

  return {
    /** Adds text; returns the prose that may be relayed and the blocks that closed. */
    push(text: string): SplitPiece {
      buffer += text
      return _drain(false)
    },
    /** The answer ended: everything held back, and a last block left unclosed. */
    end(): SplitPiece {
      return _drain(true)
    },
    /** Whether a `<tool_call>` has begun (prose is over). */
    callStarted: () => started,
  }
}

/**
 * Splits a whole answer at once.
 *
 * @example
 * splitToolCalls('Sure.\n<tool_call>\n{"name":"f","arguments":{}}\n</tool_call>') // { prose: 'Sure.', blocks: ['\n{"name":"f","arguments":{}}\n'] }
 *
 * @internal test hook: outside this module only tests use it.
 */
export function splitToolCalls(text: string): SplitPiece {
  const splitter = createToolCallSplitter()
  const first = splitter.push(text)
  const rest = splitter.end()
  return { prose: first.prose + rest.prose, blocks: [...first.blocks, ...rest.blocks] }
}
