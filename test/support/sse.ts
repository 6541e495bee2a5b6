/**
 * Reads an OpenAI-style event stream off the wire, strictly: every event is
 * exactly one `data: …` line followed by a blank line, as OpenAI sends them.
 * Used to check the adapter's bytes, not only what the SDK makes of them:
 * a whole body at once (`readRawStream`), or event by event while it streams
 * (`readSseData`).
 */

export interface RawChunk {
  id: string
  object: string
  created: number
  model: string
  choices: Array<{ index: number; delta: { role?: string; content?: string; reasoning_content?: string }; finish_reason: string | null }>
  usage?: { prompt_tokens: number; completion_tokens: number; total_tokens: number }
  error?: { message: string; type: string; param: string | null; code: string | null }
}

export interface RawStream {
  /** The body as text. */
  text: string
  /** The `data:` payloads, in order (`[DONE]` as the string). */
  payloads: string[]
  /** The JSON payloads, parsed. */
  chunks: RawChunk[]
  /** How many `data: [DONE]` events came. */
  doneCount: number
}

/**
 * Reads a whole stream; throws on anything that is not a well-formed `data:` event.
 *
 * @example
 * const raw = await readRawStream(await fetch(url, { method: 'POST', body }))
 */
export async function readRawStream(response: Response): Promise<RawStream> {
  const text = await response.text()
  if (!text.endsWith('\n\n')) throw new Error(`The stream does not end with a blank line: ${JSON.stringify(text.slice(-80))}`)
  const payloads = text.slice(0, -2).split('\n\n').map(_readEventData)
  const chunks = payloads.filter((p) => p !== '[DONE]').map((p) => JSON.parse(p) as RawChunk)
  return { text, payloads, chunks, doneCount: payloads.filter((p) => p === '[DONE]').length }
}

/**
 * Reads a stream event by event as it arrives, yielding each `data:` payload
 * (`[DONE]` as the string); throws on an event that is not one `data:` line,
 * or a stream that ends inside an event.
 *
 * @example
 * for await (const data of readSseData(response.body!)) if (data !== '[DONE]') chunks.push(JSON.parse(data))
 */
export async function* readSseData(body: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  const decoder = new TextDecoder()
  let buffer = ''
  for await (const chunk of body as unknown as AsyncIterable<Uint8Array>) {
    buffer += decoder.decode(chunk, { stream: true })
    let end: number
    while ((end = buffer.indexOf('\n\n')) !== -1) {
      const event = buffer.slice(0, end)
      buffer = buffer.slice(end + 2)
      yield _readEventData(event)
    }
  }
  if (buffer + decoder.decode() !== '') throw new Error(`The stream ended inside an event: ${JSON.stringify(buffer.slice(0, 200))}`)
}

/** The payload of one event: exactly one `data: …` line. */
function _readEventData(event: string): string {
  const match = /^data: (.*)$/.exec(event)
  if (!match || event.includes('\n')) throw new Error(`Not a single data line: ${JSON.stringify(event.slice(0, 200))}`)
  return match[1]!
}

/** The content (and reasoning) of a stream's chunks, joined. */
export function joinDeltas(chunks: RawChunk[]): { content: string; reasoning: string } {
  let content = ''
  let reasoning = ''
  for (const chunk of chunks) {
    for (const choice of chunk.choices) {
      content += choice.delta.content ?? ''
      reasoning += choice.delta.reasoning_content ?? ''
    }
  }
  return { content, reasoning }
}
