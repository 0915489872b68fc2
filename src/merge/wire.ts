import { rm } from 'node:fs/promises'
import { join } from 'node:path'
import type { MeshsyncNode } from '../node.js'
import { validateFile } from '../validate/index.js'
import type { RemoteVersion } from './planner.js'
import { compileRules } from './rules.js'
import { MergeService } from './service.js'

/** The merge service of a node, built from its config (`merges`), catalog, view and quarantine. */
export function mergeServiceFor(node: MeshsyncNode): MergeService {
  const cfg = node.config
  const service = new MergeService({
    rules: compileRules(cfg.merges),
    self: () => ({ peerId: node.peerId, role: cfg.node.role, tags: cfg.node.tags }),
    db: node.db,
    dataDir: node.layout.dataDir,
    snapshotDir: node.layout.snapshots,
    workDir: join(node.layout.stateDir, 'merge'),
    local: () => node.manifest.all(),
    remote: function* (): Generator<RemoteVersion> {
      for (const p of node.view.peers()) {
        if (p.peerId === node.peerId || p.state !== 'up') continue
        for (const entry of p.entries.values()) yield { peer: p.peerId, entry }
      }
    },
    fetch: (sha256, from, signal) => node.fetch(sha256, { from, signal }),
    drop: async (path) => {
      const f = node.manifest.remove(path)
      await rm(join(node.layout.dataDir, path), { force: true })
      if (f?.snapshot != null) await rm(join(node.layout.snapshots, f.snapshot), { force: true })
    },
    validate: (path, signal) => validateFile(path, 'sqlite', { depth: 'deep', signal }),
    quarantine: async (abs, src, reason) => {
      await node.quarantine.add(abs, { path: src.path, sha256: src.sha256, kind: 'sqlite', reason, sourcePeer: src.origin, foundAt: 'source' })
      // out of the catalog: never announced or merged again (a live database is snapshotted anew by the scanner)
      if (node.manifest.get(src.path)?.sha256 === src.sha256) node.manifest.remove(src.path)
    },
    events: node.events,
    clock: node.clock,
    log: node.log,
  })
  node.manifest.onChange(() => service.poke())
  node.view.onEntry(() => service.poke())
  return service
}
