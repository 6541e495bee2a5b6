/**
 * The Responses API's answer: the `response` object and the typed stream
 * events that build it (`response.created` … `response.completed`), each
 * with its `sequence_number`. One writer makes both, from the neutral deltas
 * of lib/chat/answer.ts, so a streamed response and a plain one never differ.
 */
import { randomBytes } from 'node:crypto'
import { estimateTokens } from '../chat/answer.ts'
import type { Delta, Usage } from '../neutral.ts'
import type { ResponsesBody } from './request.ts'

export type ResponseEvent = { type: string; sequence_number: number } & Record<string, unknown>
/** A neutral delta, with the whole tool call the tool layer may add to it. */
export type AnswerDelta = Delta & { toolCall?: { id: string; name: string; arguments: string } }
type Item = Record<string, unknown> & { id: string; type: string }

/** A fresh id with OpenAI's prefixes (`resp_`, `msg_`, `rs_`, `fc_`). */
export function createResponseId(prefix: 'resp' | 'msg' | 'rs' | 'fc' = 'resp'): string {
  return `${prefix}_${randomBytes(16).toString('hex')}`
}

/** How an answer ended, as the Responses API says it (`incomplete_details.reason`). */
function _incompleteReason(finishReason: string): string | undefined {
  if (finishReason === 'length') return 'max_output_tokens'
  if (finishReason === 'content_filter') return 'content_filter'
  return undefined
}

/**
 * @example
 * const writer = createResponseWriter({ body, model: 'gpt-4.1' })
 * send(writer.start())
 * for (const delta of mapper.feed(event)) send(writer.delta(delta))
 * send(writer.finish(mapper.finish()))
 * writer.response() // the final `response` object
 */
export function createResponseWriter(meta: { body: ResponsesBody; model: string; id?: string; createdAt?: number }) {
  const { body } = meta
  let sequence = 0
  const output: Item[] = []
  let open: { item: Item; text: string } | undefined
  let reasoningText = ''
  const response: Record<string, unknown> = {
    id: meta.id ?? createResponseId(),
    object: 'response',
    created_at: meta.createdAt ?? Math.floor(Date.now() / 1000),
    status: 'in_progress',
    background: false,
    error: null,
    incomplete_details: null,
    instructions: body.instructions ?? null,
    max_output_tokens: body.max_output_tokens ?? null,
    model: meta.model,
    output,
    parallel_tool_calls: body.parallel_tool_calls ?? true,
    previous_response_id: body.previous_response_id ?? null,
    reasoning: { effort: body.reasoning?.effort ?? null, summary: body.reasoning?.summary ?? null },
    store: body.store ?? true,
    temperature: body.temperature ?? 1,
    text: { format: body.text?.format ?? { type: 'text' } },
    tool_choice: body.tool_choice ?? 'auto',
    tools: body.tools ?? [],
    top_p: body.top_p ?? 1,
    truncation: 'disabled',
    usage: null,
    user: body.user ?? null,
    metadata: body.metadata ?? {},
  }

  const event = (type: string, fields: Record<string, unknown>): ResponseEvent => ({ type, sequence_number: sequence++, ...fields })
  const snapshot = () => structuredClone(response)

  /** Ends the open item (reasoning or message): its `.done` events. */
  function _close(status = 'completed'): ResponseEvent[] {
    if (!open) return []
    const { item, text } = open
    const output_index = output.indexOf(item)
    open = undefined
    if (item.type === 'reasoning') {
      item.summary = [{ type: 'summary_text', text }]
      return [
        event('response.reasoning_summary_text.done', { item_id: item.id, output_index, summary_index: 0, text }),
        event('response.reasoning_summary_part.done', { item_id: item.id, output_index, summary_index: 0, part: { type: 'summary_text', text } }),
        event('response.output_item.done', { output_index, item: structuredClone(item) }),
      ]
    }
    const part = { type: 'output_text', text, annotations: [], logprobs: [] }
    item.content = [part]
    item.status = status
    return [
      event('response.output_text.done', { item_id: item.id, output_index, content_index: 0, text, logprobs: [] }),
      event('response.content_part.done', { item_id: item.id, output_index, content_index: 0, part }),
      event('response.output_item.done', { output_index, item: structuredClone(item) }),
    ]
  }

  /** Opens a reasoning or message item, closing the other kind first. */
  function _openItem(kind: 'reasoning' | 'message'): ResponseEvent[] {
    if (open?.item.type === kind) return []
    const out = _close()
    const item: Item =
      kind === 'reasoning'
        ? { id: createResponseId('rs'), type: 'reasoning', summary: [] }
        : { id: createResponseId('msg'), type: 'message', status: 'in_progress', role: 'assistant', content: [] }
    output.push(item)
    open = { item, text: '' }
    const output_index = output.length - 1
    out.push(event('response.output_item.added', { output_index, item: structuredClone(item) }))
    if (kind === 'reasoning') out.push(event('response.reasoning_summary_part.added', { item_id: item.id, output_index, summary_index: 0, part: { type: 'summary_text', text: '' } }))
    else out.push(event('response.content_part.added', { item_id: item.id, output_index, content_index: 0, part: { type: 'output_text', text: '', annotations: [], logprobs: [] } }))
    return out
  }

  /** A whole tool call as a `function_call` item: added, its arguments (in one delta), done. */
  function _functionCall(call: { id: string; name: string; arguments: string }): ResponseEvent[] {
    const out = _close()
    const item: Item = { id: createResponseId('fc'), type: 'function_call', status: 'in_progress', call_id: call.id, name: call.name, arguments: '' }
    output.push(item)
    const output_index = output.length - 1
    out.push(event('response.output_item.added', { output_index, item: structuredClone(item) }))
    out.push(event('response.function_call_arguments.delta', { item_id: item.id, output_index, delta: call.arguments }))
    item.arguments = call.arguments
    item.status = 'completed'
    out.push(event('response.function_call_arguments.done', { item_id: item.id, output_index, name: call.name, arguments: call.arguments }))
    out.push(event('response.output_item.done', { output_index, item: structuredClone(item) }))
    return out
  }

  /** The events of one neutral delta. */
  function _delta(delta: AnswerDelta): ResponseEvent[] {
    const out: ResponseEvent[] = []
    if (delta.reasoning_content) {
      out.push(..._openItem('reasoning'))
      open!.text += delta.reasoning_content
      reasoningText += delta.reasoning_content
      out.push(event('response.reasoning_summary_text.delta', { item_id: open!.item.id, output_index: output.length - 1, summary_index: 0, delta: delta.reasoning_content }))
    }
    if (delta.content) {
      out.push(..._openItem('message'))
      open!.text += delta.content
      out.push(event('response.output_text.delta', { item_id: open!.item.id, output_index: output.length - 1, content_index: 0, delta: delta.content, logprobs: [] }))
    }
    if (delta.toolCall) out.push(..._functionCall(delta.toolCall))
    return out
  }

  return {
    /** `response.created` and `response.in_progress`. */
    start(): ResponseEvent[] {
      return [event('response.created', { response: snapshot() }), event('response.in_progress', { response: snapshot() })]
    },

    /** The events of one neutral delta. */
    delta: _delta,

    /** The last deltas, the items' `.done` events, then `response.completed` (or `response.incomplete`). */
    finish(end: { deltas: AnswerDelta[]; finishReason: string; usage: Usage }): ResponseEvent[] {
      const out = end.deltas.flatMap(_delta)
      const incomplete = _incompleteReason(end.finishReason)
      // A text answer always has its message, even an empty one (an answer of calls needs none).
      if (!output.some((item) => item.type !== 'reasoning')) out.push(..._openItem('message'))
      out.push(..._close(incomplete ? 'incomplete' : 'completed'))
      const reasoningTokens = Math.min(end.usage.completion_tokens, reasoningText ? estimateTokens(reasoningText) : 0)
      response.usage = {
        input_tokens: end.usage.prompt_tokens,
        input_tokens_details: { cached_tokens: 0 },
        output_tokens: end.usage.completion_tokens,
        output_tokens_details: { reasoning_tokens: reasoningTokens },
        total_tokens: end.usage.total_tokens,
      }
      response.status = incomplete ? 'incomplete' : 'completed'
      response.incomplete_details = incomplete ? { reason: incomplete } : null
      out.push(event(incomplete ? 'response.incomplete' : 'response.completed', { response: snapshot() }))
      return out
    },

    /** A failure after the stream began: the open item ends incomplete, then `response.failed`. */
    fail(error: { code: string; message: string }): ResponseEvent[] {
      const out = _close('incomplete')
      response.status = 'failed'
      response.error = error
      out.push(event('response.failed', { response: snapshot() }))
      return out
    },

    /** The response object as it stands. */
    response: () => snapshot(),
  }
}

/**
 * One event on the wire: an `event:` line with its type and a `data:` line.
 *
 * @example
 * formatResponseEvent({ type: 'response.created', sequence_number: 0, response }) // 'event: response.created\ndata: {…}\n\n'
 */
export function formatResponseEvent(event: ResponseEvent): string {
  return `event: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`
}
