/**
 * Shapes the text of one answer into what a client may see when tools or a
 * response format are in play: prose before the first call (streamed as it
 * comes, or held when the answer must be a call or JSON), then each call once
 * it is complete and valid, or the JSON alone once it validates. What fails
 * is reported as a `problem` for the caller to repair, never relayed.
 */
import type { ChatRequest, Delta, ToolCall } from '../neutral.ts'
import { callKey, checkToolCall, createToolCallId } from './calls.ts'
import { extractJsonAnswer, parseToolCallBlock, type ParsedCall } from './parse.ts'
import { offeredTools } from './prompt.ts'
import { validateValue } from './schema.ts'
import { createToolCallSplitter, type SplitPiece } from './splitter.ts'

export interface ShaperOptions {
  /** Relay prose (false once an earlier attempt's prose went out: a repair adds calls only). */
  relayProse?: boolean
  /** Calls an earlier attempt already emitted: not emitted twice, and numbering goes on after them. */
  emitted?: ToolCall[]
}

export interface ShapedAnswer {
  /** The last deltas. */
  deltas: Delta[]
  /** Why this answer cannot be used (to quote in a repair note or a 502). */
  problem?: string
  /** The content this answer relayed (prose before the calls, or the JSON). */
  content: string
  /** The calls this answer emitted. */
  calls: ToolCall[]
  /** Calls left out because `parallel_tool_calls` is false. */
  dropped: number
}

/** Whether `request` needs shaping at all (plain answers pass through untouched). */
export function needsShaping(request: Pick<ChatRequest, 'tools' | 'toolChoice' | 'responseFormat'>): boolean {
  return offeredTools(request).length > 0 || request.responseFormat !== undefined
}

/**
 * @example
 * const shaper = createAnswerShaper(request)
 * for (const text of pieces) send(shaper.push(text))
 * const { deltas, problem } = shaper.end()
 */
export function createAnswerShaper(request: Pick<ChatRequest, 'tools' | 'toolChoice' | 'parallelToolCalls' | 'responseFormat'>, options: ShaperOptions = {}) {
  const offered = offeredTools(request)
  const choice = request.toolChoice ?? 'auto'
  const format = request.responseFormat
  const mustCall = offered.length > 0 && (choice === 'required' || typeof choice === 'object')
  // Prose is held when it may have to be taken back: the answer must be a call, or JSON only.
  const holdProse = format !== undefined || mustCall
  const relayProse = options.relayProse ?? true
  const earlier = options.emitted ?? []
  const earlierKeys = new Set(earlier.map(callKey))
  const splitter = offered.length > 0 ? createToolCallSplitter() : undefined

  let held = ''
  let content = ''
  let problem: string | undefined
  let accepted = 0
  let dropped = 0
  const calls: ToolCall[] = []

  function _prose(text: string): Delta[] {
    if (text === '') return []
    if (holdProse) {
      held += text
      return []
    }
    if (!relayProse) return []
    content += text
    return [{ content: text }]
  }

  function _emit(call: ParsedCall): Delta[] {
    const out: Delta[] = []
    // Prose held for a forced call goes out just before it, once the call is known to be good.
    if (mustCall && !format && held !== '') {
      if (relayProse) {
        content += held
        out.push({ content: held })
      }
      held = ''
    }
    if (earlierKeys.has(callKey(call))) return out
    const toolCall: ToolCall = { index: earlier.length + calls.length, id: createToolCallId(), name: call.name, arguments: JSON.stringify(call.arguments) }
    calls.push(toolCall)
    out.push({ toolCall })
    return out
  }

  function _block(inner: string): Delta[] {
    // After the first failure nothing more goes out: the repair answers for the rest.
    if (problem !== undefined) return []
    const parsed = parseToolCallBlock(inner)
    if (!parsed.ok) {
      problem = parsed.error
      return []
    }
    const usable: ParsedCall[] = []
    for (const call of parsed.value) {
      if (request.parallelToolCalls === false && accepted + usable.length >= 1) {
        dropped++
        continue
      }
      const error = checkToolCall(call, offered)
      if (error !== undefined) {
        problem = error
        return []
      }
      usable.push(call)
    }
    accepted += usable.length
    return usable.flatMap(_emit)
  }

  function _piece(piece: SplitPiece): Delta[] {
    return [..._prose(piece.prose), ...piece.blocks.flatMap(_block)]
  }

  return {
    /** Adds answer text; returns what may be relayed now. */
    push(text: string): Delta[] {
      if (splitter) return _piece(splitter.push(text))
      return _prose(text)
    },
    /** The answer ended: the last deltas, or the problem to repair. */
    end(): ShapedAnswer {
      const deltas = splitter ? _piece(splitter.end()) : []
      const result = () => ({ deltas, problem, content, calls, dropped })
      if (problem !== undefined) return result()
      if (accepted > 0 || earlier.length > 0) return result()
      if (mustCall) {
        problem = typeof choice === 'object' ? `it called no function, but tool_choice requires a call of "${choice.name}"` : 'it called no function, but tool_choice "required" requires at least one call'
        return result()
      }
      if (!format) {
        if (relayProse && held !== '') {
          content += held
          deltas.push({ content: held })
        }
        return result()
      }
      const json = extractJsonAnswer(held)
      if (!json.ok) problem = json.error
      else if (format.type === 'json_object' && (!json.value.value || typeof json.value.value !== 'object' || Array.isArray(json.value.value))) problem = 'the answer must be a JSON object'
      else if (format.type === 'json_schema') problem = validateValue(format.schema, json.value.value, 'answer')
      if (problem === undefined && json.ok) {
        content = json.value.text
        deltas.push({ content })
      }
      return result()
    },
  }
}
