import { mkdir, mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { digestFile } from '../../src/catalog/hasher.js'
import { type LocalFile, LocalManifest } from '../../src/catalog/local-manifest.js'
import type { Kind } from '../../src/config/schema.js'
import type { NodeFacts } from '../../src/replication/placement.js'
import { BackupLoop } from '../../src/sinks/backup.js'
import type { Sink } from '../../src/sinks/index.js'
import { SinkCopyStore } from '../../src/sinks/store.js'
import { type Db, openStateDb } from '../../src/state/db.js'
import { EventLog, type MeshsyncEvent } from '../../src/state/event-log.js'
import type { ManualClock } from '../../src/util/clock.js'
import { silentLogger } from '../../src/util/log.js'

/** One node's part in the backup tests: a real data dir, a real state db and manifest, a backup loop over real sinks. */
export interface BackupNode {
  peerId: string
  dataDir: string
  db: Db
  manifest: LocalManifest
  store: SinkCopyStore
  events: EventLog
  backup: BackupLoop
  emitted: MeshsyncEvent[]
  addFile(path: string, bytes: Buffer, kind?: Kind): Promise<LocalFile>
}

export function facts(peerId: string, sinks: string[], state: NodeFacts['state'] = 'up'): NodeFacts {
  return { peerId, name: peerId, role: 'storage', tags: [], ephemeral: false, state, counts: state !== 'down', diskFree: 100 * 2 ** 30, diskLevel: 'ok', accepting: true, evacuating: false, sinks }
}

export async function backupNode(opts: {
  peerId: string
  sinks: Map<string, Sink>
  clock: ManualClock
  policy?: { backup: string[]; backupCopies: number; backupMinAgeSeconds?: number; backupMaxSize?: number }
  holders: (sha: string) => string[]
  nodes: () => Map<string, NodeFacts>
  rehashIntervalMs?: number
}): Promise<BackupNode> {
  const dataDir = await mkdtemp(join(tmpdir(), `meshsync-backup-${opts.peerId}-`))
  await mkdir(join(dataDir, '.meshsync'), { recursive: true })
  const db = openStateDb(join(dataDir, '.meshsync', 'state.db'))
  const events = new EventLog(db, opts.clock)
  const emitted: MeshsyncEvent[] = []
  events.subscribe((e) => emitted.push(e))
  const manifest = new LocalManifest(db, opts.peerId)
  const store = new SinkCopyStore(db)
  const policy = opts.policy ?? { backup: [...opts.sinks.keys()], backupCopies: 1 }
  const backup = new BackupLoop({
    self: opts.peerId,
    sinks: opts.sinks,
    store,
    files: () => manifest.all(),
    localPath: (f) => join(dataDir, f.path),
    policyFor: () => ({ ...policy, priority: 'normal' }),
    holders: opts.holders,
    nodes: opts.nodes,
    weight: () => 1,
    events,
    clock: opts.clock,
    log: silentLogger,
    intervalMs: 1000,
    verifyMaxAgeMs: 3600_000,
    rehashIntervalMs: opts.rehashIntervalMs ?? 0,
    backoffBaseMs: 1000,
    backoffMaxMs: 8000,
  })
  const addFile = async (path: string, bytes: Buffer, kind: Kind = 'other'): Promise<LocalFile> => {
    const abs = join(dataDir, path)
    await mkdir(dirname(abs), { recursive: true })
    await writeFile(abs, bytes)
    const d = await digestFile(abs)
    return manifest.put(
      { path, sha256: d.sha256, size: d.size, kind, origin: 'origin-node', version: 1, mtimeMs: 1000, chunkRoot: d.chunkRoot, promoted: false, ino: 0, localMtimeMs: 0, chunkSize: d.chunkSize, chunkHashes: d.chunkHashes },
      opts.clock.now(),
    )
  }
  return { peerId: opts.peerId, dataDir, db, manifest, store, events, backup, emitted, addFile }
}
