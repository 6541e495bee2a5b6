/**
 * Each distinct image is uploaded once: the URL the platform returned is kept
 * by the image's SHA-256, in memory (bounded) and on disk in the state folder,
 * so that a 40-turn conversation that carries one screenshot costs one upload,
 * not forty, also across restarts. Uploads are never deleted (no endpoint is
 * known), so a URL stays good; it is kept per API base, since another
 * platform (the simulator, a moved base) knows nothing of it.
 */
import { mkdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { writeFileAtomic } from '../atomic-write.ts'

const MEMORY_MAX = 256 // entries: a URL and a hash each, a few dozen KiB at most
const DISK_MAX = 2000 // entries kept in the file, newest first; about 300 KiB

interface Entry {
  url: string
  /** The API base the upload went to. */
  base: string
  /** When it was uploaded or last used (ms since the epoch), for trimming. */
  at: number
}

/** The file in the state folder that keeps the uploads. */
export function uploadCacheFile(stateDir: string): string {
  return join(stateDir, 'image-uploads.json')
}

/**
 * @example
 * const cache = createUploadCache({ stateDir })
 * const url = cache.get(sha256, apiBase) ?? (await upload())
 */
export function createUploadCache(options: { stateDir: string; log?: { warn: (message: string) => void } }) {
  const file = uploadCacheFile(options.stateDir)
  const memory = new Map<string, Entry>()

  function _readDisk(): Record<string, Entry> {
    try {
      const parsed = JSON.parse(readFileSync(file, 'utf8')) as { uploads?: Record<string, Entry> }
      return parsed && typeof parsed.uploads === 'object' && parsed.uploads ? parsed.uploads : {}
    } catch {
      // None yet, or broken by hand: start again (only uploads are lost, never data).
      return {}
    }
  }

  function _remember(sha256: string, entry: Entry): void {
    memory.delete(sha256)
    memory.set(sha256, entry)
    while (memory.size > MEMORY_MAX) memory.delete(memory.keys().next().value!)
  }

  return {
    /** The URL `sha256` was uploaded to on `base`, if it was. */
    get(sha256: string, base: string): string | undefined {
      const known = memory.get(sha256) ?? _readDisk()[sha256]
      if (!known || known.base !== base || typeof known.url !== 'string') return undefined
      _remember(sha256, known)
      return known.url
    },
    /** Keeps `url` for `sha256`; the file is merged with what other processes wrote, then replaced at once. */
    set(sha256: string, base: string, url: string): void {
      const entry = { url, base, at: Date.now() }
      _remember(sha256, entry)
      try {
        mkdirSync(options.stateDir, { recursive: true })
        const all = { ..._readDisk(), [sha256]: entry }
        const kept = Object.entries(all)
          .filter(([, e]) => e && typeof e.url === 'string')
          .sort(([, a], [, b]) => b.at - a.at)
          .slice(0, DISK_MAX)
        writeFileAtomic(file, `${JSON.stringify({ version: 1, uploads: Object.fromEntries(kept) }, null, 1)}\n`)
      } catch (error) {
        // The upload worked; only the next restart will upload this image again.
        options.log?.warn(`Could not save the image upload cache (${(error as Error).message}).`)
      }
    },
  }
}

export type UploadCache = ReturnType<typeof createUploadCache>
