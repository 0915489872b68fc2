import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'

/** meshsync's own folder inside the data dir; never scanned, never synced. */
export const STATE_DIR_NAME = '.meshsync'

/** Where everything lives under a data dir. */
export interface Layout {
  dataDir: string
  stateDir: string
  db: string
  identity: string
  /** Downloads in progress (same filesystem as the data dir, so landing is a rename). */
  staging: string
  quarantine: string
  /** Consistent snapshots of live SQLite databases, served in their place. */
  snapshots: string
}

export function layoutOf(dataDir: string): Layout {
  const stateDir = join(dataDir, STATE_DIR_NAME)
  return {
    dataDir,
    stateDir,
    db: join(stateDir, 'state.db'),
    identity: join(stateDir, 'identity.key'),
    staging: join(stateDir, 'staging'),
    quarantine: join(stateDir, 'quarantine'),
    snapshots: join(stateDir, 'snapshots'),
  }
}

export async function ensureLayout(l: Layout): Promise<void> {
  await mkdir(l.dataDir, { recursive: true })
  await mkdir(l.stateDir, { recursive: true, mode: 0o700 })
  for (const d of [l.staging, l.quarantine, l.snapshots]) await mkdir(d, { recursive: true })
}
