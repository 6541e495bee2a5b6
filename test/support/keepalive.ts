/**
 * The keepalive in tests: its jobs in this process, as keepalive.ts wires
 * them, and a graceful stop of a spawned keepalive.
 */
import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import type { TestContext } from 'node:test'
import { createKeepaliveClient, createKeepaliveJobs, keepaliveLockFile, type KeepaliveTiming } from '../../lib/keepalive/jobs.ts'
import { createReauth } from '../../lib/login/reauth.ts'
import { createSettingsStore } from '../../lib/settings.ts'
import { createCapturingLogger } from './account.ts'
import type { SpawnedScript } from './processes.ts'

/**
 * The keepalive jobs in this process, as keepalive.ts wires them (its own
 * client and pacer, logins through reauth), logging into a capturing logger;
 * stopped when `t` ends.
 */
export function startKeepaliveJobs(t: TestContext, envFile: string, options: { minGapMs?: number; timing: Partial<KeepaliveTiming> }): ReturnType<typeof createCapturingLogger> {
  const store = createSettingsStore({ envFile, env: {} })
  const settings = () => store.get()
  const capture = createCapturingLogger()
  const { pacer, client } = createKeepaliveClient(settings, { minGapMs: options.minGapMs })
  const jobs = createKeepaliveJobs({ settings, client, pacer, reauth: createReauth({ settings, log: capture.log, pacer }), log: capture.log, timing: options.timing })
  t.after(() => jobs.stop())
  jobs.start()
  return capture
}

/** SIGTERM: the script stops its jobs, releases its lock and exits 0. */
export async function stopGracefully(script: SpawnedScript, envFile: string): Promise<void> {
  script.child.kill('SIGTERM')
  const code = await script.exited
  // Windows has no SIGTERM (the kill is abrupt there): the next keepalive takes the lock over instead.
  if (process.platform === 'win32') return
  assert.equal(code, 0, script.output())
  assert.equal(existsSync(keepaliveLockFile(envFile)), false, 'the lock is released on exit')
}
