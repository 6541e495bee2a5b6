/**
 * The demo's platform (`npm run demo`, `adapter.ts --check --simulate`): a
 * simulator with one web chat of "yours" (never deleted), and the settings an
 * adapter needs to use it, with a throwaway state folder.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startSimulator, type RunningSimulator } from './index.ts'

export interface DemoPlatform {
  simulator: RunningSimulator
  /** A throwaway folder: the state folder lives in it, and anything else the caller keeps there. */
  dir: string
  /** Settings for an adapter on this platform: its bases, a token and the state folder. */
  env: Record<string, string>
  close(): Promise<void>
}

/**
 * @example
 * const demo = await startDemoPlatform()
 * const adapter = await startAdapter({ overrides: demo.env })
 */
export async function startDemoPlatform(): Promise<DemoPlatform> {
  const simulator = await startSimulator({ seedWebChats: ['My own web chat (never deleted)'] })
  const dir = mkdtempSync(join(tmpdir(), 'xipu-demo-'))
  return {
    simulator,
    dir,
    env: { ...simulator.adapterEnv(), XIPU_STATE_DIR: join(dir, 'state') },
    async close() {
      await simulator.close()
      rmSync(dir, { recursive: true, force: true })
    },
  }
}
