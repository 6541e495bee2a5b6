/**
 * Replacing a file all at once, for `.env`, journals and caches: readers see
 * the old file or the new one, never a part, and the new one is private
 * (mode 0600: it may hold tokens).
 */
import { randomBytes } from 'node:crypto'
import { chmodSync, closeSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from 'node:fs'
import { basename, dirname, join } from 'node:path'
import { XipuError } from './errors.ts'

/**
 * Writes `content` to `path` through a temporary file in the same folder and
 * a rename, so that readers see the old file or the new one, never a part.
 */
export function writeFileAtomic(path: string, content: string, mode = 0o600): void {
  const temp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`)
  try {
    const fd = openSync(temp, 'w', mode)
    try {
      writeSync(fd, content)
      fsyncSync(fd)
    } finally {
      closeSync(fd)
    }
    // openSync's mode is filtered by the umask; make sure it really is 0600.
    chmodSync(temp, mode)
    renameSync(temp, path)
  } catch (error) {
    rmSync(temp, { force: true })
    throw new XipuError('E_ENV_FILE', `Cannot write ${path}: ${(error as Error).message}`, { cause: error })
  }
}
