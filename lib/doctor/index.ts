/**
 * `npx tsx adapter.ts --check [--login] [--json] [--model ID]`: runs the
 * doctor and prints its report, each line as its check finishes (the run
 * takes ten paced calls), or as one JSON document with `--json`, for a bug
 * report. Returns the exit code: 0 when all is well, 1 when something the
 * adapter needs failed. With `simulate`, it checks a built-in simulator
 * through a throwaway `.env`, so that a newcomer (or a bug report) can see
 * what a healthy report looks like.
 */
import { join } from 'node:path'
import { updateEnvFile } from '../env-file.ts'
import { setLogLevel } from '../log.ts'
import { createSettingsStore } from '../settings.ts'
import { formatCheck, formatReportJson, formatSummary, hideHome } from './report.ts'
import { runDoctor } from './run.ts'

export { runDoctor } from './run.ts'
export type { CheckLine, CheckStatus, DoctorReport } from './report.ts'

/**
 * @example
 * process.exitCode = await runDoctorCommand({ json: false, login: false })
 */
export async function runDoctorCommand(options: { json?: boolean; login?: boolean; model?: string; envFile?: string; simulate?: boolean } = {}): Promise<number> {
  if (!options.simulate) return _runDoctorOn(options)
  const demo = await _startDemoPlatform()
  try {
    return await _runDoctorOn({ ...options, envFile: demo.envFile })
  } finally {
    await demo.close()
  }
}

async function _runDoctorOn(options: { json?: boolean; login?: boolean; model?: string; envFile?: string }): Promise<number> {
  const store = createSettingsStore({ envFile: options.envFile })
  // The report is the output: the client's own warnings would only repeat its lines.
  setLogLevel(0)
  if (!options.json) {
    const { apiBase, minGapMs } = store.get()
    console.log(`xipu-openai doctor: ${hideHome(store.envFile)} → ${apiBase} (calls ${minGapMs} ms apart)\n`)
  }
  const report = await runDoctor({
    settings: () => store.get(),
    login: options.login,
    model: options.model,
    onLine: options.json ? undefined : (line) => console.log(formatCheck(line).join('\n')),
  })
  if (options.json) console.log(formatReportJson(report))
  else console.log(formatSummary(report.checks).join('\n'))
  return report.exitCode
}

/** The demo's platform, and a `.env` for it in its throwaway folder. */
async function _startDemoPlatform(): Promise<{ envFile: string; close(): Promise<void> }> {
  // Loaded only here: the doctor of a real account does not carry the simulator.
  const { startDemoPlatform } = await import('../simulator/demo.ts')
  const demo = await startDemoPlatform()
  const envFile = join(demo.dir, '.env')
  updateEnvFile(envFile, { ...demo.env, XJTLU_USERNAME: 'demo', XJTLU_PASSWORD: 'demo-password' })
  return { envFile, close: demo.close }
}
