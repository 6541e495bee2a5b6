/**
 * The one internal request every API surface turns its own request into
 * (chat completions today): what the session needs, what the completion
 * sends, and what shapes the answer. Nothing here knows an API's wire shape.
 */
import type { ImageInput } from '../images/input.ts'
import type { SessionParams } from '../sessions/manager.ts'

/** A validated request, in the terms the pipeline works with. */
export interface ChatRequest extends SessionParams {
  /** The model id as the client asked (shown back in responses). */
  model: string
  stream: boolean
  includeUsage: boolean
  stop: string[]
  online: boolean
  thinking?: string
  /** The whole conversation as one prompt; image n is marked where it was as `[Image n]` (lib/images/input.ts). */
  prompt: string
  /** The conversation's images in order (the prompt's `[Image 1]` is the first); none when absent. */
  images?: ImageInput[]
  messageCount: number
}
