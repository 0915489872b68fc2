import { statfs } from 'node:fs/promises'
import type { DiskLevel } from '../../protocols/health/index.js'

export interface DiskReading {
  total: number
  free: number
  used: number
  usedFraction: number
}

export interface DiskThresholds {
  pushAt: number
  urgentAt: number
  cleanupAt: number
  minFree: number
}

/**
 * How full the node's disk is: the filesystem's figures, or, with a quota,
 * the bytes meshsync keeps (catalog plus staging) against the quota. The
 * quota is what the simulation uses to fill a disk on purpose.
 */
export class DiskMeter {
  readonly #dir: string
  readonly #quota: number | undefined
  readonly #usedBytes: () => number
  #last: DiskReading = { total: 0, free: 0, used: 0, usedFraction: 0 }

  constructor(dir: string, quota: number | undefined, usedBytes: () => number) {
    this.#dir = dir
    this.#quota = quota
    this.#usedBytes = usedBytes
  }

  get last(): DiskReading {
    return this.#last
  }

  async read(): Promise<DiskReading> {
    if (this.#quota != null) {
      const used = this.#usedBytes()
      const total = this.#quota
      this.#last = { total, used, free: Math.max(0, total - used), usedFraction: total > 0 ? Math.min(1, used / total) : 1 }
    } else {
      const s = await statfs(this.#dir)
      const total = s.blocks * s.bsize
      const free = s.bavail * s.bsize
      const used = total - s.bfree * s.bsize
      this.#last = { total, free, used, usedFraction: total > 0 ? used / total : 1 }
    }
    return this.#last
  }
}

export function diskLevel(r: DiskReading, t: DiskThresholds): DiskLevel {
  if (r.usedFraction >= t.cleanupAt || r.free < t.minFree) return 'full'
  if (r.usedFraction >= t.urgentAt) return 'urgent'
  if (r.usedFraction >= t.pushAt) return 'push'
  return 'ok'
}
