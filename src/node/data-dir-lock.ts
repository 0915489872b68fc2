import { readFileSync, unlinkSync, writeFileSync } from 'node:fs'
import { hostname } from 'node:os'
import { join } from 'node:path'
import { StartupError } from '../util/startup-error.js'

/** The lock file in the state dir: which process runs a node on this data dir. */
export const LOCK_FILE_NAME = 'node.lock'

interface LockRecord {
  pid: number
  host: string
  /** /proc/sys/kernel/random/boot_id: a record from before a reboot is stale whatever its pid. */
  bootId: string
  /** Field 22 of /proc/PID/stat: tells a reused pid from the process that wrote the record. */
  procStart: string
  startedAt: string
}

/** Lock files this process holds (two nodes of one process on one data dir are refused too). */
const heldHere = new Set<string>()

function readProc(path: string): string {
  try {
    return readFileSync(path, 'utf8').trim()
  } catch {
    return ''
  }
}

/** Fields 3.. of /proc/PID/stat (state, ppid, ...; [] where /proc cannot tell). */
function procStat(pid: number): string[] {
  const stat = readProc(`/proc/${pid}/stat`)
  // the command name (field 2) is in parentheses and may hold spaces: count from the last ')'
  return stat === '' ? [] : stat.slice(stat.lastIndexOf(')') + 2).split(' ')
}

/** The start time of a process in clock ticks since boot ('' where /proc cannot tell). */
function procStartOf(pid: number): string {
  return procStat(pid)[19] ?? ''
}

/** Whether a process with this pid exists (EPERM: it does, under another user). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/** Whether the process a lock record names still runs (the record is not left over from a kill -9 or a reboot). */
function holds(r: LockRecord, file: string): boolean {
  if (r.pid === process.pid) return heldHere.has(file)
  const bootId = readProc('/proc/sys/kernel/random/boot_id')
  if (bootId !== '' && r.bootId !== '' && bootId !== r.bootId) return false
  if (!alive(r.pid)) return false
  if (procStat(r.pid)[0] === 'Z') return false // killed, not yet reaped by its parent
  const start = procStartOf(r.pid)
  return start === '' || r.procStart === '' || start === r.procStart
}

/**
 * One node per data dir. Two processes on one data dir would share its state
 * database, staging folder and identity: both announce the same peer ID, and a
 * SIGTERM of either evacuates the other one's files. The lock is a file in the
 * state dir naming the process; a file left by a process that is gone (kill -9,
 * a reboot or another machine's boot, a reused pid) is taken over. Throws a StartupError naming the data
 * dir and the process that holds it.
 */
export class DataDirLock {
  readonly file: string
  #released = false

  private constructor(file: string) {
    this.file = file
  }

  static acquire(stateDir: string, dataDir: string): DataDirLock {
    const file = join(stateDir, LOCK_FILE_NAME)
    const record: LockRecord = {
      pid: process.pid,
      host: hostname(),
      bootId: readProc('/proc/sys/kernel/random/boot_id'),
      procStart: procStartOf(process.pid),
      startedAt: new Date().toISOString(),
    }
    for (let attempt = 0; ; attempt++) {
      try {
        writeFileSync(file, `${JSON.stringify(record)}\n`, { flag: 'wx', mode: 0o600 })
        heldHere.add(file)
        return new DataDirLock(file)
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
      }
      let other: LockRecord | undefined
      try {
        other = JSON.parse(readFileSync(file, 'utf8')) as LockRecord
      } catch {
        other = undefined // torn or empty (a crash while writing it): stale
      }
      if (other != null && typeof other.pid === 'number' && holds(other, file)) {
        throw new StartupError(
          'dataDir',
          `data dir ${dataDir} is in use by another meshsync node (pid ${other.pid} on ${other.host}, started ${other.startedAt}; lock ${file}); stop that node first, or give this one its own data dir`,
        )
      }
      if (attempt > 0) throw new StartupError('dataDir', `data dir ${dataDir}: another meshsync node took the lock ${file} while this one started; stop it first`)
      try {
        unlinkSync(file)
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
      }
    }
  }

  /** Removes the lock file if it is still this process's (idempotent). */
  release(): void {
    if (this.#released) return
    this.#released = true
    heldHere.delete(this.file)
    try {
      const r = JSON.parse(readFileSync(this.file, 'utf8')) as LockRecord
      if (r.pid === process.pid) unlinkSync(this.file)
    } catch {
      // gone already
    }
  }
}
