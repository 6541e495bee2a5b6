/**
 * Whether the process that wrote a record (a session journal, a lock file)
 * still runs. A pid alone can lie: a restarted container runs as pid 1 again,
 * a new process may be given the pid of one that crashed, and a dead process
 * whose parent never reaps it (a zombie, common in containers whose init does
 * not reap) still answers `kill(pid, 0)`. So records carry the pid, the host,
 * a random token of the writer and, on Linux, its start time; a record with
 * this process's pid but another token (or none) was left by an earlier
 * process, and on Linux `/proc/<pid>/stat` tells a zombie (state `Z`) and a
 * reused pid (another start time) from the writer.
 */
import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { hostname } from 'node:os'

/** Random for each process: tells it from an earlier process that had the same pid. */
export const PROCESS_TOKEN = randomBytes(8).toString('hex')

export interface ProcessRecord {
  pid: number
  host: string
  /** `PROCESS_TOKEN` of the writer; missing in records of versions before it existed. */
  processToken?: string
  /** The writer's start time (`PROCESS_START_TIME`); only on Linux, and missing in older records. */
  processStartTime?: number
}

export interface ProcessStatus {
  /** The state letter of `/proc/<pid>/stat` (`R`, `S`, `D`, `Z`, …). */
  state: string
  /** When it started, in clock ticks after boot (field 22): with the pid, it names one process. */
  startTime: number
}

/**
 * The state and start time of process `pid` from `/proc/<pid>/stat`:
 * `undefined` when there is no such process, `null` where `/proc` cannot
 * tell (not Linux, or `/proc` not mounted).
 *
 * @example
 * readProcessStatus(process.pid) // { state: 'R', startTime: 123456 } on Linux
 * @internal test hook: outside this module only tests use it.
 */
export function readProcessStatus(pid: number): ProcessStatus | undefined | null {
  if (process.platform !== 'linux' || !Number.isInteger(pid) || pid <= 0) return null
  let text: string
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') return null
    // No entry for the pid, yet /proc works: the process is gone.
    return _procWorks() ? undefined : null
  }
  // The name (field 2) is in parentheses and may hold spaces and parentheses itself:
  // the fields that follow start after the last ')'.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ')
  const state = fields[0]
  const startTime = Number(fields[19]) // field 22; fields[0] is field 3
  if (!state || !Number.isSafeInteger(startTime)) return null
  return { state, startTime }
}

/** This process's start time on Linux (see `ProcessStatus`), recorded beside its pid. */
export const PROCESS_START_TIME: number | undefined = readProcessStatus(process.pid)?.startTime

/**
 * Whether the writer of `record` still runs. Writers on other hosts (a
 * folder shared between machines) cannot be checked and are assumed to.
 *
 * @example
 * if (!isWriterAlive(journalFile)) sweepItsSessions()
 */
export function isWriterAlive(record: ProcessRecord): boolean {
  if (record.host !== hostname()) return true
  if (record.pid === process.pid) return record.processToken === PROCESS_TOKEN
  const status = readProcessStatus(record.pid)
  if (status === undefined) return false
  if (status) {
    // Z: exited, waiting for a parent that may never reap it; X: being removed.
    if (status.state === 'Z' || status.state === 'X') return false
    // Another start time: the pid now belongs to another process.
    if (record.processStartTime !== undefined && record.processStartTime !== status.startTime) return false
    return true
  }
  // Elsewhere (macOS, Windows): whether the pid exists at all.
  try {
    // Signal 0 checks without sending anything.
    process.kill(record.pid, 0)
    return true
  } catch (error) {
    // EPERM: it exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}

let _procChecked: boolean | undefined
function _procWorks(): boolean {
  if (_procChecked === undefined) {
    try {
      readFileSync('/proc/self/stat')
      _procChecked = true
    } catch {
      _procChecked = false
    }
  }
  return _procChecked
}
