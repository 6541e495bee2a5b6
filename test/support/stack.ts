/**
 * Starts a simulated platform and an adapter pointed at it, on random ports,
 * with a private state folder and `.env`; and the official OpenAI SDK as the
 * client. Everything real, nothing mocked.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import OpenAI from 'openai'
import { startAdapter, type RunningAdapter } from '../../lib/adapter-server.ts'
import { setLogLevel } from '../../lib/log.ts'
import { startSimulator, type RunningSimulator, type SimulatorOptions } from '../../lib/simulator/index.ts'

export interface Stack {
  sim: RunningSimulator
  adapter: RunningAdapter
  openai: OpenAI
  dir: string
  envFile: string
  /** Sessions on the platform whose name is the adapter's. */
  adapterSessions(): number[]
  /** Waits (bounded) until the platform holds no session of the adapter's but the ready one. */
  settle(timeoutMs?: number): Promise<void>
  close(): Promise<void>
}

export async function startStack(options: { sim?: SimulatorOptions; env?: Record<string, string> } = {}): Promise<Stack> {
  setLogLevel(Number(process.env.XIPU_LOG_LEVEL ?? 1))
  const gap = options.sim?.minGapMs ?? 100
  const sim = await startSimulator({ seedWebChats: ['My thesis notes', 'Weekend plans'], ...options.sim, minGapMs: gap })
  const dir = mkdtempSync(join(tmpdir(), 'xipu-test-'))
  const envFile = join(dir, '.env')
  const adapter = await startAdapter({
    port: 0,
    envFile,
    env: {},
    overrides: { ...sim.adapterEnv(), XIPU_STATE_DIR: dir, XIPU_MIN_GAP_MS: String(gap), ...options.env },
  })
  const openai = new OpenAI({ baseURL: adapter.baseURL, apiKey: options.env?.ADAPTER_API_KEY ?? 'unused', maxRetries: 0 })
  const adapterSessions = () => [...sim.state.sessions.values()].filter((s) => s.name.startsWith('[xipu-openai] ')).map((s) => s.id)
  return {
    sim,
    adapter,
    openai,
    dir,
    envFile,
    adapterSessions,
    async settle(timeoutMs = 15_000) {
      const deadline = Date.now() + timeoutMs
      for (;;) {
        const ready = adapter.sessions.readyId()
        const left = adapterSessions().filter((id) => id !== ready)
        if (left.length === 0 && adapter.sessions.activeCount() === 0) return
        if (Date.now() > deadline) throw new Error(`Sessions of the adapter still on the platform: ${left.join(', ')}`)
        await new Promise((r) => setTimeout(r, 50))
      }
    },
    async close() {
      await adapter.close(500)
      await sim.close()
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

/** The minimum gap between consecutive platform calls the simulator received, in ms. */
export function minCallGap(sim: RunningSimulator): number {
  const times = sim.state.calls.map((c) => c.at).sort((a, b) => a - b)
  let min = Number.POSITIVE_INFINITY
  for (let i = 1; i < times.length; i++) min = Math.min(min, times[i]! - times[i - 1]!)
  return min
}
