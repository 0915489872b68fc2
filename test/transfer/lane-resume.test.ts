import { randomBytes } from 'node:crypto'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ProcessNode } from '../../sim/harness/process-node.js'
import type { MeshsyncNode } from '../../src/node.js'
import type { MeshsyncEvent } from '../../src/state/event-log.js'
import type { TransferJson } from '../../src/transfer/manager.js'
import { FAST, startNode, stopAll, waitFor } from '../helpers/cluster.js'
import { NO_REPLICATION, sha256Of } from './support.js'

const MiB = 1024 * 1024
const SIZE = 40 * MiB + 123
const CHUNKS = 41

/** The receiver is a real process (needs `npm run build`), killed with SIGKILL part-way through a lane transfer. */
describe('blob lane: kill -9 of the receiver mid-transfer', () => {
  let scratch: string
  let src: MeshsyncNode
  let r: ProcessNode | undefined
  const data = randomBytes(SIZE)
  const sha = sha256Of(data)
  const base = { ...FAST, ...NO_REPLICATION, 'bittorrent.enabled': false, 'transfer.backoffBaseSeconds': 0.2, 'transfer.backoffMaxSeconds': 1 }
  const receiver = (): Promise<ProcessNode> =>
    ProcessNode.start({ name: 'lk-r', dataDir: join(scratch, 'r'), bootstrap: [src.addresses[0]!], settings: { ...base, 'bandwidth.download': 16 * MiB } })

  beforeAll(async () => {
    scratch = await mkdtemp(join(tmpdir(), 'meshsync-lane-kill-'))
    src = await startNode({ name: 'lk-src', settings: base })
    await writeFile(join(src.layout.dataDir, 'big.bin'), data)
    await waitFor('cataloged', () => src.manifest.bySha(sha).length > 0)
  })
  afterAll(async () => {
    r?.kill()
    await r?.exited
    await stopAll([src])
    if (scratch != null) await rm(scratch, { recursive: true, force: true })
  })

  it('resumes from its verified chunks after a restart, over the lane again', async () => {
    r = await receiver()
    await waitFor('the holder and its file in the receiver view', async () => {
      const peers = await r!.get<{ peerId: string; state: string; files: number }[]>('/peers')
      return peers.some((p) => p.peerId === src.peerId && p.state === 'up' && p.files >= 1)
    })
    await r.post('/fetch', { sha256: sha })
    await waitFor(
      'a third of the file',
      async () => ((await r!.get<TransferJson[]>('/transfers')).find((t) => t.sha256 === sha)?.progress?.chunksDone ?? 0) >= CHUNKS / 3,
      60_000,
      20,
    )
    const laneBefore = src.lane!.stats.chunks
    expect(laneBefore).toBeGreaterThan(0)
    r.kill()
    await r.exited

    r = await receiver()
    await waitFor(
      'landed',
      async () => {
        const t = await r!.get<{ state: string; lastError?: string }>(`/transfer?sha256=${sha}`)
        if (t.state === 'failed') throw new Error(`transfer failed: ${t.lastError}`)
        return t.state === 'landed'
      },
      90_000,
    )
    expect((await readFile(join(scratch, 'r', 'big.bin'))).equals(data)).toBe(true)
    const done = (await r.get<MeshsyncEvent[]>('/events?type=sync_completed')).find((e) => e.sha256 === sha)
    expect(done?.data?.checksumVerified).toBe(true)
    expect(done?.data?.resumedChunks as number).toBeGreaterThan(0)
    // the rest came over the lane too, with no fallback
    expect(src.lane!.stats.chunks).toBeGreaterThan(laneBefore)
    expect(await r.get<MeshsyncEvent[]>('/events?type=lane_fallback')).toEqual([])
  })
})
