/**
 * Whether the process that wrote a record (a session journal, a lock file)
 * still runs. A pid alone can lie: a restarted container runs as pid 1 again,
 * and a new process may be given the pid of one that crashed. So records
 * carry the pid, the host and a random token of the process that wrote them,
 * and a record with this process's pid but another token (or none) was left
 * by an earlier process.
 */
import { randomBytes } from 'node:crypto'
import { hostname } from 'node:os'

/** Random for each process: tells it from an earlier process that had the same pid. */
export const PROCESS_TOKEN = randomBytes(8).toString('hex')

export interface ProcessRecord {
  pid: number
  host: string
  /** `PROCESS_TOKEN` of the writer; missing in records of versions before it existed. */
  processToken?: string
}

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
  try {
    // Signal 0 checks without sending anything.
    process.kill(record.pid, 0)
    return true
  } catch (error) {
    // EPERM: it exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}
