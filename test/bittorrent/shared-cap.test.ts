import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import type { MeshsyncEvent } from '../../src/state/event-log.js'
import type { MeshsyncNode } from '../../src/node.js'
import { api, startNode, stopAll, waitFor } from '../helpers/cluster.js'
import { BT_TEST, knownWithTorrent, MiB, randomFile, sha256File } from './support.js'

const CAP = 8 * MiB
const SIZE = 32 * MiB

/** Bytes the node has sent to peers, over both transports (BitTorrent counts per wire write, libp2p per finished session). */
async function bytesOut(n: MeshsyncNode): Promise<number> {
  const m = await n.metrics.transferBytes.get()
  return m.values.filter((v) => v.labels.direction === 'out').reduce((s, v) => s + v.value, 0)
}

/**
 * bandwidth.upload is the node's cap, whichever transport the bytes take:
 * BitTorrent wires draw from the same bucket as libp2p transfers (before,
 * webtorrent had its own throttle at the same figure, so a node serving both
 * could send twice its cap; and a cap from the provider's figure alone did not
 * reach BitTorrent at all).
 */
describe('one upload cap for both transports', () => {
  const nodes: MeshsyncNode[] = []
  afterAll(async () => stopAll(nodes))

  it('a node serving one peer over BitTorrent and another over libp2p at once stays within bandwidth.upload', async () => {
    const src = await startNode({ name: 'cap-src', settings: { ...BT_TEST, 'bandwidth.upload': CAP, 'bittorrent.preferredSize': SIZE } })
    nodes.push(src)
    const boot = [src.addresses[0]!]
    const viaBt = await startNode({ name: 'cap-bt', bootstrap: boot, settings: { ...BT_TEST, 'bittorrent.preferredSize': SIZE, 'debug.libp2pFetch': false } })
    const viaP2p = await startNode({ name: 'cap-p2p', bootstrap: boot, settings: BT_TEST })
    nodes.push(viaBt, viaP2p)
    const sha = await randomFile(join(src.layout.dataDir, 'big.bin'), SIZE)
    await knownWithTorrent(viaBt, sha, [src])
    await waitFor('the libp2p receiver knows the file', () => viaP2p.view.holders(sha).includes(src.peerId), 30_000)

    const btDone = viaBt.fetch(sha, { signal: AbortSignal.timeout(120_000) })
    // the BitTorrent transfer is under way (libp2p fails first on this receiver, then the fallback starts)
    await waitFor('BitTorrent bytes arriving', () => {
      const p = viaBt.transfers.progress(sha)
      return p?.via === 'bittorrent' && p.bytes > 0
    }, 60_000)
    let btLanded = false
    void btDone.then(() => {
      btLanded = true
    })
    const btBytes = (): number => (btLanded ? SIZE : (viaBt.transfers.progress(sha)?.bytes ?? 0))
    const out0 = await bytesOut(src)
    const bt0 = btBytes()
    const t0 = performance.now()
    let btWhileP2p = 0
    const p2pDone = viaP2p.fetch(sha, { signal: AbortSignal.timeout(120_000) }).then(() => {
      btWhileP2p = btBytes() - bt0
    })
    await Promise.all([btDone, p2pDone])
    const seconds = (performance.now() - t0) / 1000
    const sent = (await bytesOut(src)) - out0

    // both really ran, each over its own transport, and both landed byte-identical
    const via = async (n: MeshsyncNode): Promise<unknown> =>
      (await api<MeshsyncEvent[]>(n, '/events?type=sync_completed')).find((e) => e.sha256 === sha)?.data?.via
    expect(await via(viaBt)).toBe('bittorrent')
    expect(await via(viaP2p)).toBe('libp2p')
    expect(await sha256File(join(viaBt.layout.dataDir, 'big.bin'))).toBe(sha)
    expect(await sha256File(join(viaP2p.layout.dataDir, 'big.bin'))).toBe(sha)
    // the libp2p receiver may have taken a few chunks from the BitTorrent one; what src sent is what counts
    expect(sent).toBeGreaterThan(SIZE)
    // one cap: what src sent after t0 took at least that much time at CAP (with separate caps, about half)
    const rate = sent / seconds
    // and shared fairly: the BitTorrent wire kept moving while the libp2p transfer ran (when it asked per 16 KiB
    // block against libp2p's 1 MiB chunks it got 1.5% and stalled); about half is fair, a fifth is the floor
    expect(btWhileP2p, 'BitTorrent bytes while the libp2p transfer ran').toBeGreaterThan(SIZE / 5)
    expect(rate, `src sent ${(sent / MiB).toFixed(1)} MiB in ${seconds.toFixed(1)} s`).toBeLessThan(CAP * 1.25)
  }, 120_000)
})
