import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { loadOrCreateIdentity } from '../../bootstrap/identity.js'
import { LocalManifest } from '../catalog/local-manifest.js'
import type { ResolvedConfig } from '../config/load.js'
import { ensureLayout, layoutOf } from '../node/layout.js'
import { pathGlob } from '../node/read-models.js'
import { Quarantine } from '../quarantine/quarantine.js'
import { openStateDb } from '../state/db.js'
import { EventLog } from '../state/event-log.js'
import { systemClock } from '../util/clock.js'
import { ConfigError } from '../util/errors.js'
import { validateFile } from '../validate/index.js'
import type { Sink } from './index.js'
import { type RestoreResult, restoreFromSinks } from './restore.js'
import { openSink } from './verify.js'

/**
 * `meshsync restore`: rebuilds this node's data dir from the sinks' index
 * objects and blobs alone (no other node needed), with the node stopped.
 * Restored files are in the catalog when the node starts, and it announces
 * them like any replica.
 */
export async function restoreNode(cfg: ResolvedConfig, opts: { from?: string[]; where?: string; signal?: AbortSignal }): Promise<RestoreResult> {
  const names = opts.from != null && opts.from.length > 0 ? opts.from : Object.keys(cfg.sinks.targets)
  if (names.length === 0) throw new ConfigError('sinks', 'no sink is configured to restore from')
  const sinks: Sink[] = []
  for (const n of names) {
    const s = cfg.sinks.targets[n]
    if (s == null) throw new ConfigError('sinks', `--from names sink '${n}', which is not configured (${Object.keys(cfg.sinks.targets).join(', ') || 'none'})`)
    sinks.push(openSink(n, s))
  }
  const layout = layoutOf(cfg.dataDir)
  await ensureLayout(layout)
  const identity = await loadOrCreateIdentity(layout.identity)
  const peerId = peerIdFromPrivateKey(identity.privateKey).toString()
  const db = openStateDb(layout.db)
  try {
    const clock = systemClock
    const events = new EventLog(db, clock)
    const manifest = new LocalManifest(db, peerId)
    const quarantine = new Quarantine({ dir: layout.quarantine, dataDir: layout.dataDir, db, clock, events })
    return await restoreFromSinks({
      sinks,
      where: opts.where != null && opts.where !== '' ? pathGlob(opts.where) : undefined,
      landing: { dataDir: layout.dataDir, manifest, quarantine, clock, validate: (path, kind, _sha, signal) => validateFile(path, kind, { depth: 'deep', signal }) },
      stagingDir: layout.staging,
      events,
      signal: opts.signal,
    })
  } finally {
    db.close()
  }
}
