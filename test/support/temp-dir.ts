/** A temporary folder for one test, removed when the test ends. */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { TestContext } from 'node:test'

/**
 * @example
 * const { dir, envFile } = makeTempDir(t)
 */
export function makeTempDir(t: TestContext): { dir: string; envFile: string } {
  const dir = mkdtempSync(join(tmpdir(), 'xipu-test-'))
  t.after(() => rmSync(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 }))
  return { dir, envFile: join(dir, '.env') }
}
