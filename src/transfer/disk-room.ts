import { Bitfield, chunkCount } from '../../protocols/blob/index.js'
import { formatBytes } from '../util/units.js'
import type { TransferRow } from './transfer-store.js'

/**
 * Room on the disk that holds the data dir (and staging, inside it), as the
 * transfer manager sees it before it starts a transfer: a node must not pull
 * a file that cannot fit, nor several that fit one at a time but not together,
 * and a full disk also breaks the node's own state database.
 */
export interface DiskSpace {
  /** Free bytes now (the disk meter's last reading, or the quota's). */
  free: number
  /** Bytes that must stay free (disk.minFree). */
  keep: number
}

/** Bytes a transfer still has to write: its size less the verified chunks already in its staging file. */
export function bytesToWrite(row: Pick<TransferRow, 'entry' | 'chunkSize' | 'have'>): number {
  const size = row.entry.size
  if (row.have == null || size === 0) return size
  const n = chunkCount(size, row.chunkSize)
  const staged = Math.min(size, new Bitfield(n, row.have).count() * row.chunkSize)
  return size - staged
}

export function noRoomMessage(path: string, need: number, room: number): string {
  return `not enough disk space for ${path}: it needs ${formatBytes(need)}, ${formatBytes(Math.max(0, room))} is free beyond disk.minFree and the transfers already running`
}

/**
 * The filesystem said it is full (ENOSPC) or over a quota (EDQUOT), or
 * SQLite could not grow the state database (SQLITE_FULL: the transfer's
 * chunk map is written there), anywhere in the error's cause chain.
 */
export function isNoSpace(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e != null && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code
    if (code === 'ENOSPC' || code === 'EDQUOT' || code === 'SQLITE_FULL') return true
  }
  return false
}
