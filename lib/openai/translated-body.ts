/**
 * The other API surfaces (/v1/responses, /v1/messages) are translations at
 * the edge: each turns its request into a chat completions body and hands it
 * to the one chat completions parser, so validation, tools, structured
 * output and images are handled once. What that parser refuses names chat
 * completions parameters (`messages[3].content[1]`); this module names them
 * back in the client's own terms (`input[5].content[1]`), in the error's
 * `param` and in its message.
 */
import type { ChatRequest } from '../neutral.ts'
import { isXipuError, XipuError } from '../errors.ts'
import type { ConversationTerms } from '../tools/history.ts'
import { parseChatRequest } from './request.ts'

/** Where one chat message came from: the client's path, and for each content part its index there. */
export interface MessageOrigin {
  /** E.g. `input[2]` or `messages[0]`. */
  path: string
  /** Chat part index → the client's part index, when the parts map one to one (else undefined). */
  parts?: number[]
}

export interface TranslatedBody {
  /** A chat completions request body. */
  body: Record<string, unknown>
  /** `origins[i]` is where `body.messages[i]` came from. */
  origins: MessageOrigin[]
  /** `toolOrigins[i]` is the client's index of `body.tools[i]`, when some tools were taken out. */
  toolOrigins?: number[]
  /** Chat completions parameter → the client's name for it (e.g. `max_completion_tokens` → `max_output_tokens`). */
  renames: Record<string, string>
  /** How the client's API names the parts of a tool conversation. */
  terms: ConversationTerms
}

/** Rewrites the chat completions paths in `text` (a `param`, or a message that quotes them) into the client's terms. */
function _rename(text: string, translated: TranslatedBody, isParam: boolean): string {
  let out = text.replace(/messages\[(\d+)\](?:\.content\[(\d+)\])?/g, (whole, i: string, j: string | undefined) => {
    const origin = translated.origins[Number(i)]
    if (!origin) return whole
    if (j === undefined) return origin.path
    const part = origin.parts?.[Number(j)]
    return part === undefined ? origin.path : `${origin.path}.content[${part}]`
  })
  out = out.replace(/tools\[(\d+)\]/g, (whole, i: string) => {
    const index = translated.toolOrigins?.[Number(i)]
    return index === undefined ? whole : `tools[${index}]`
  })
  for (const [from, to] of Object.entries(translated.renames)) {
    const name = from.replace(/[.[\]]/g, '\\$&')
    // In prose only quoted names are parameters ("a stop sequence" stays as it is).
    const pattern = isParam ? new RegExp(`^${name}(?=$|[.[])`) : new RegExp(`(?<=['(])${name}(?=['.[)])`, 'g')
    out = out.replace(pattern, to)
  }
  return out
}

/**
 * Parses a translated body with the chat completions parser; a 400 names the
 * client's own parameter.
 *
 * @example
 * const request = parseTranslatedBody({ body, origins, renames: { messages: 'input' } })
 */
export function parseTranslatedBody(translated: TranslatedBody): ChatRequest {
  try {
    const request = parseChatRequest(translated.body, translated.terms)
    // The images are checked later (lib/images/resolve.ts): their errors must name the client's place too.
    if (request.images) request.images = request.images.map((image) => (image.param ? { ...image, param: _rename(image.param, translated, true) } : image))
    return request
  } catch (error) {
    if (!isXipuError(error, 'E_BAD_REQUEST')) throw error
    const param = error.param === undefined ? undefined : _rename(error.param, translated, true)
    throw new XipuError('E_BAD_REQUEST', _rename(error.message, translated, false), { param, cause: error })
  }
}
