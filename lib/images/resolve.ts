/**
 * From a request's images to the completion's `files`: every check first
 * (how many, whether the model takes images, each image's real format and
 * size, remote URLs fetched safely), then the uploads, each distinct image
 * once (lib/images/upload-cache.ts). Nothing reaches the platform for a
 * request that is refused, and an upload that fails after its retries fails
 * the request (502) before its session is even created.
 */
import { createHash } from 'node:crypto'
import type { ConsolaInstance } from 'consola'
import { isXipuError, XipuError } from '../errors.ts'
import type { Settings } from '../settings.ts'
import type { ModelCatalog } from '../xipu/catalog.ts'
import type { CallOptions, UploadFile } from '../xipu/client.ts'
import { fetchImage } from './fetch.ts'
import type { ImageInput } from './input.ts'
import { sniffImage, type ImageKind } from './sniff.ts'
import type { UploadCache } from './upload-cache.ts'

/** What the resolver reads of a request: the model (as asked, and as sent to the platform) and its images in order. */
export interface ImageRequest {
  model: string
  upstreamModel: string
  images?: ImageInput[]
}

export interface ImageResolverDeps {
  settings: () => Settings
  client: { uploadImage: (file: UploadFile, options?: CallOptions) => Promise<{ url: string }> }
  models: Pick<ModelCatalog, 'list'>
  cache: UploadCache
  log?: ConsolaInstance
}

/** One image, checked: bytes to upload, or a URL already on the platform's file host. */
type Uploadable = { n: number; param?: string; bytes: Uint8Array; kind: ImageKind; sha256: string }
type Checked = { n: number; param?: string; url: string } | Uploadable

// Errors that are not the upload's fault: passed on as they are (a 403 is healed by a new login).
const PASSED_ON = ['E_TOKEN_EXPIRED', 'E_NO_TOKEN', 'E_ABORTED', 'E_SHUTTING_DOWN', 'E_QUEUE_FULL', 'E_QUEUE_TIMEOUT'] as const

/**
 * @example
 * const images = createImageResolver({ settings, client, models, cache })
 * const files = await images.resolve(request, signal) // ['https://tosai.xjtlu.edu.cn/…png']
 */
export function createImageResolver(deps: ImageResolverDeps) {
  // A repair of the same request (lib/chat/turn.ts) keeps its images array: no second fetch.
  const resolved = new WeakMap<ImageInput[], Promise<string[]>>()
  const uploading = new Map<string, Promise<string>>()

  async function _resolve(request: ImageRequest, images: ImageInput[], signal?: AbortSignal): Promise<string[]> {
    const settings = deps.settings()
    if (images.length > settings.imageMaxCount) {
      const extra = images[settings.imageMaxCount]
      const limit = settings.imageMaxCount === 0 ? 'Images are turned off here (XIPU_IMAGE_MAX_COUNT=0).' : `At most ${settings.imageMaxCount} images are taken in one request (XIPU_IMAGE_MAX_COUNT).`
      throw new XipuError('E_BAD_REQUEST', `The request holds ${images.length} images. ${limit}`, { param: extra?.param })
    }
    // The bytes in hand first (no call at all for a bad one), then the catalog, then remote URLs.
    const inline = images.map((image, i) => (image.kind === 'data' ? _checkBytes(image, image.bytes, i + 1, settings) : undefined))
    await _checkModel(request, signal)
    const checked: Checked[] = []
    for (const [i, image] of images.entries()) checked.push(image.kind === 'data' ? inline[i]! : await _fetchChecked(image, i + 1, settings, signal))
    const files: string[] = []
    for (const image of checked) files.push('url' in image ? image.url : await _upload(image, images.length, settings, signal))
    return files
  }

  /** A model the platform's catalog marks text-only is refused; one it does not list is passed through. */
  async function _checkModel(request: ImageRequest, signal?: AbortSignal): Promise<void> {
    const { models, source } = await deps.models.list(signal)
    // The built-in list (catalog unreadable) and XIPU_MODELS do not know who sees: the platform decides.
    if (source !== 'platform') return
    const entry = models.find((m) => m.id === request.upstreamModel)
    if (!entry || entry.multimodal) return
    const seeing = models.filter((m) => m.multimodal).map((m) => m.id)
    const offer = seeing.length > 0 ? ` Models that take images: ${seeing.join(', ')}.` : ' No model in the catalog takes images.'
    const asked = request.model.replace(/:online$/, '') === request.upstreamModel ? '' : ` (asked for as '${request.model}', mapped by XIPU_MODEL_MAP)`
    throw new XipuError('E_BAD_REQUEST', `The model '${request.upstreamModel}'${asked} does not take images (the platform's catalog marks it text-only).${offer}`, { param: 'model' })
  }

  /** A URL on the platform's file host as it is; any other fetched, then checked as bytes. */
  async function _fetchChecked(image: Extract<ImageInput, { kind: 'url' }>, n: number, settings: Settings, signal?: AbortSignal): Promise<Checked> {
    if (_isOnFileHost(image.url, settings)) return { n, param: image.param, url: image.url }
    const { bytes } = await fetchImage(image.url, {
      maxBytes: settings.imageMaxBytes,
      timeoutMs: settings.imageFetchTimeoutMs,
      allowPrivate: settings.imageFetchPrivate,
      allowHosts: settings.imageFetchAllow,
      param: image.param,
      signal,
    })
    return _checkBytes(image, bytes, n, settings)
  }

  /** Size and real format: 413 over the limit, 400 for anything but PNG, JPEG, GIF or WebP. */
  function _checkBytes(image: ImageInput, bytes: Uint8Array, n: number, settings: Settings): Checked {
    const where = image.param ? ` (${image.param})` : ''
    if (bytes.length > settings.imageMaxBytes) {
      throw new XipuError('E_BODY_TOO_LARGE', `Image ${n}${where} is ${bytes.length} bytes, over XIPU_IMAGE_MAX_BYTES (${settings.imageMaxBytes}).`, { param: image.param })
    }
    const kind = sniffImage(bytes)
    if (!kind) {
      const declared = image.kind === 'data' && image.mediaType ? ` (declared ${image.mediaType})` : ''
      throw new XipuError('E_BAD_REQUEST', `Image ${n}${where} is not a PNG, JPEG, GIF or WebP image by its content${declared}.`, { param: image.param })
    }
    return { n, param: image.param, bytes, kind, sha256: createHash('sha256').update(bytes).digest('hex') }
  }

  async function _upload(image: Uploadable, count: number, settings: Settings, signal?: AbortSignal): Promise<string> {
    const known = deps.cache.get(image.sha256, settings.apiBase)
    if (known) return known
    try {
      const url = await _sharedUpload(image, settings, signal)
      deps.log?.debug(`Image ${image.n} of ${count}: ${image.bytes.length} bytes, sha256 ${image.sha256.slice(0, 12)}, uploaded.`)
      return url
    } catch (error) {
      if (isXipuError(error, ...PASSED_ON)) throw error
      const where = image.param ? ` (${image.param})` : ''
      // Still too fast after the retries: a 429 the client may retry later, like any rate-limited call.
      const code = isXipuError(error, 'E_RATE_LIMITED') ? 'E_RATE_LIMITED' : 'E_UPSTREAM'
      const retryAfter = isXipuError(error) ? error.retryAfter : undefined
      throw new XipuError(code, `The upload of image ${image.n} of ${count}${where} to the platform failed: ${(error as Error).message} Nothing else was sent for this request.`, { cause: error, param: image.param, retryAfter })
    }
  }

  /**
   * One upload per image at a time: a request that needs an image another
   * request is uploading right now waits for that upload rather than making
   * its own (unless the other client went away and took its upload with it).
   */
  async function _sharedUpload(image: Uploadable, settings: Settings, signal?: AbortSignal): Promise<string> {
    const key = `${settings.apiBase} ${image.sha256}`
    const running = uploading.get(key)
    if (running) {
      try {
        return await running
      } catch (error) {
        if (!isXipuError(error, 'E_ABORTED') || signal?.aborted) throw error
      }
    }
    const file = { data: image.bytes, name: `image-${image.sha256.slice(0, 12)}.${image.kind.extension}`, type: image.kind.mediaType }
    const upload = deps.client.uploadImage(file, { signal }).then(({ url }) => {
      deps.cache.set(image.sha256, settings.apiBase, url)
      return url
    })
    uploading.set(key, upload)
    try {
      return await upload
    } finally {
      if (uploading.get(key) === upload) uploading.delete(key)
    }
  }

  return {
    /**
     * The completion's `files` for `request`, in the order of its images
     * (the prompt's `[Image 1]` is `files[0]`); empty without images.
     */
    resolve(request: ImageRequest, signal?: AbortSignal): Promise<string[]> {
      const images = request.images
      if (!images || images.length === 0) return Promise.resolve([])
      let pending = resolved.get(images)
      if (!pending) {
        pending = _resolve(request, images, signal)
        resolved.set(images, pending)
        // A failure is not kept: after a new login (a healed 403) the same request tries again.
        pending.catch(() => resolved.delete(images))
      }
      return pending
    },
  }
}

export type ImageResolver = ReturnType<typeof createImageResolver>

/** Whether `url` is on the platform's file host (`XIPU_FILE_BASE`) or the API's own origin: passed on as it is. */
function _isOnFileHost(url: string, settings: Settings): boolean {
  try {
    const target = new URL(url)
    const fileBase = new URL(`${settings.fileBase.replace(/\/+$/, '')}/`)
    if (target.origin === fileBase.origin && target.pathname.startsWith(fileBase.pathname)) return true
    return target.origin === new URL(settings.apiBase).origin
  } catch {
    return false
  }
}
