/**
 * The doctor's image checks: an upload of a tiny generated PNG through the
 * platform's upload call, then a turn that sends it to a multimodal model and
 * asks for its colour. `multimodal` in the catalog says a model takes images,
 * not how well it sees them: the answer is shown, so a person can judge.
 */
import { createHash } from 'node:crypto'
import { createSolidPng } from './png.ts'
import type { Probe } from './probe.ts'
import { checkLine, type CheckLine } from './report.ts'
import type { CompletionRun } from './stream-shape.ts'

// Pure red: the one colour every model names the same way.
const RED: [number, number, number] = [230, 20, 20]
const COLOUR_WORDS = /\b(red|crimson|scarlet)\b|红/i

export interface ImageCheckContext {
  probe: Probe
  sessionId: number
  model: string
  multimodal: boolean
  complete: (text: string, files: string[]) => Promise<CompletionRun>
}

/** Lines: `upload`, `vision`. */
export async function checkImageUpload(ctx: ImageCheckContext): Promise<CheckLine[]> {
  const png = createSolidPng(RED)
  let url: string
  try {
    // The adapter's own upload call: a reply without data.url or data.file_url is an error there.
    url = (await ctx.probe.call('upload', (o) => ctx.probe.client.uploadImage({ data: png, name: 'xipu-doctor.png', type: 'image/png' }, o))).url
  } catch (error) {
    return [
      checkLine('upload', 'upload', 'warn', `uploading a ${png.length}-byte PNG failed: ${(error as Error).message}`, {
        advice: 'Images in requests will not work; text is unaffected. Please report it (npx tsx adapter.ts --check --json).',
      }),
    ]
  }
  const host = _host(url)
  const lines = [checkLine('upload', 'upload', 'ok', `a ${png.length}-byte PNG uploaded; its URL is on ${host}`, { details: { bytes: png.length, host } })]
  if (!ctx.multimodal) {
    lines.push(checkLine('vision', 'vision', 'skip', `${ctx.model} is not multimodal in the catalog: no model to show the image to`))
    return lines
  }
  const run = await ctx.complete('User:\n[Image 1]\nWhat colour is this image? Answer with one word.', [url])
  const answer = run.shape.text.replace(/\s+/g, ' ').trim()
  const quoted = answer.length > 60 ? `${answer.slice(0, 60)}…` : answer
  if (run.error) {
    lines.push(checkLine('vision', 'vision', 'warn', `${ctx.model} with the image failed: ${(run.error as Error).message}`, { advice: 'Images in requests may not work with this model.' }))
  } else if (COLOUR_WORDS.test(answer)) {
    lines.push(checkLine('vision', 'vision', 'ok', `${ctx.model} saw it: "${quoted}"`, { details: { model: ctx.model, named: true } }))
  } else if (_describesFile(answer, png)) {
    // A model that names the file's size or hash got the very bytes we uploaded (the simulator's do).
    lines.push(checkLine('vision', 'vision', 'ok', `${ctx.model} received the uploaded PNG: it named its size or hash`, { details: { model: ctx.model, named: false, described: true } }))
  } else {
    lines.push(
      checkLine('vision', 'vision', 'warn', `${ctx.model} answered "${quoted}" for a red square`, {
        advice: 'The image went through, but this model may not see images well: try another multimodal model.',
        details: { model: ctx.model, named: false },
      }),
    )
  }
  return lines
}

/** Whether `answer` names the PNG's byte size (`95 bytes`) or a prefix of its SHA-256 (8 hex digits or more). */
function _describesFile(answer: string, png: Uint8Array): boolean {
  if (new RegExp(`\\b${png.length} bytes\\b`).test(answer)) return true
  const sha = createHash('sha256').update(png).digest('hex')
  return [...answer.matchAll(/\b[0-9a-f]{8,64}\b/g)].some(([hex]) => sha.startsWith(hex))
}

function _host(url: string): string {
  try {
    return new URL(url).host
  } catch {
    return '(not a URL)'
  }
}
