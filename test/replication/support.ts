import { createHash, randomBytes } from 'node:crypto'
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import type { MeshsyncNode } from '../../src/node.js'
import type { MeshsyncEvent } from '../../src/state/event-log.js'

export { FIXTURES } from '../transfer/support.js'
import { FIXTURES } from '../transfer/support.js'

/** Settings that make replication react fast in tests. */
export const REPLICATION_FAST: Record<string, unknown> = {
  'replication.intervalSeconds': 0.5,
  'replication.downGraceSeconds': 4,
  'replication.ephemeralDownGraceSeconds': 2,
  'transfer.backoffBaseSeconds': 0.2,
  'transfer.backoffMaxSeconds': 1,
}

export function sha256Of(buf: Uint8Array): string {
  return createHash('sha256').update(buf).digest('hex')
}

/** Writes `size` random bytes at `rel` under the node's data dir; returns the SHA-256. */
export async function writeRandom(node: MeshsyncNode, rel: string, size: number): Promise<string> {
  const buf = randomBytes(size)
  const path = join(node.layout.dataDir, rel)
  await mkdir(dirname(path), { recursive: true })
  await writeFile(path, buf)
  return sha256Of(buf)
}

/** Copies a fixture into the node's data dir at `rel`; returns its SHA-256. */
export async function copyFixture(node: MeshsyncNode, fixture: string, rel: string): Promise<string> {
  const path = join(node.layout.dataDir, rel)
  await mkdir(dirname(path), { recursive: true })
  await copyFile(join(FIXTURES, fixture), path)
  return sha256Of(await readFile(path))
}

/** Nodes whose data dir really holds a file with this content, re-hashed from disk. */
export async function holdersOnDisk(nodes: MeshsyncNode[], sha256: string): Promise<string[]> {
  const out: string[] = []
  for (const n of nodes) {
    for (const f of n.manifest.bySha(sha256)) {
      const buf = await readFile(join(n.layout.dataDir, f.path)).catch(() => undefined)
      if (buf != null && sha256Of(buf) === sha256) {
        out.push(n.config.node.name)
        break
      }
    }
  }
  return out.sort()
}

export function eventsOf(node: MeshsyncNode, type: string): MeshsyncEvent[] {
  return node.events.list({ types: [type], limit: 10_000 })
}
