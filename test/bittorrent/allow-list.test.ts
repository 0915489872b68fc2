import { randomBytes } from 'node:crypto'
import { connect, type Socket } from 'node:net'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { MeshsyncNode } from '../../src/node.js'
import { startNode, stopAll, waitFor } from '../helpers/cluster.js'
import { BT_TEST, MiB, randomFile } from './support.js'

/**
 * A minimal BitTorrent peer from `localAddress`: handshake for `infoHash`,
 * then (once the node has answered) interested, and on unchoke a request for
 * the first block of piece 0. Collects the message ids received until the
 * node closes the connection or `ms` pass.
 */
async function rawPeer(port: number, infoHash: string, localAddress: string, ms: number): Promise<{ ids: number[]; raw: Buffer; closed: boolean }> {
  return new Promise((resolve) => {
    let buf = Buffer.alloc(0)
    let raw = Buffer.alloc(0)
    let shook = false
    let interested = false
    let closed = false
    const ids: number[] = []
    const s: Socket = connect({ host: '127.0.0.1', port, localAddress }, () => {
      const reserved = Buffer.alloc(8)
      reserved[5] = 0x10 // extension protocol (ut_metadata)
      s.write(Buffer.concat([Buffer.from([19]), Buffer.from('BitTorrent protocol'), reserved, Buffer.from(infoHash, 'hex'), Buffer.from(`-XX0001-${randomBytes(6).toString('hex')}`)]))
    })
    s.on('data', (d) => {
      raw = Buffer.concat([raw, d])
      buf = Buffer.concat([buf, d])
      if (!shook) {
        if (buf.length < 68) return
        buf = buf.subarray(68)
        shook = true
      }
      while (buf.length >= 4 && buf.length >= 4 + buf.readUInt32BE(0)) {
        const len = buf.readUInt32BE(0)
        if (len > 0) ids.push(buf[4]!)
        if (len > 0 && buf[4] === 1) {
          const req = Buffer.alloc(17)
          req.writeUInt32BE(13, 0)
          req[4] = 6
          req.writeUInt32BE(16384, 13)
          s.write(req)
        }
        buf = buf.subarray(4 + len)
      }
      if (!interested) {
        interested = true
        s.write(Buffer.from([0, 0, 0, 1, 2]))
      }
    })
    s.on('error', () => {})
    s.on('close', () => {
      closed = true
    })
    setTimeout(() => {
      s.destroy()
      resolve({ ids, raw, closed })
    }, ms)
  })
}

/**
 * Without trackers of the operator's own, a node's BitTorrent port serves
 * only hosts of the cluster (the addresses in peers' health): anyone else
 * who knows an infoHash is cut off at the handshake.
 */
describe('who may use a node’s BitTorrent port', () => {
  let nodes: MeshsyncNode[] = []
  let infoHash: string
  beforeAll(async () => {
    const settings = { ...BT_TEST, 'bittorrent.preferredSize': MiB }
    const a = await startNode({ name: 'al-a', settings })
    const b = await startNode({ name: 'al-b', bootstrap: [a.addresses[0]!], settings })
    nodes = [a, b]
    const sha = await randomFile(join(a.layout.dataDir, 'big.bin'), 3 * MiB)
    await waitFor('b known to a', () => a.view.get(b.peerId)?.state === 'up')
    infoHash = await waitFor('a seeds the file', () => (a.bittorrent!.seeder.seeding().get(sha) as string | undefined) ?? undefined, 30_000)
  })
  afterAll(async () => {
    await stopAll(nodes)
  })

  it('cuts off a host outside the cluster and serves one inside it', async () => {
    const port = nodes[0]!.bittorrent!.port
    const outside = await rawPeer(port, infoHash, '127.0.0.2', 3000)
    expect(outside.closed).toBe(true)
    // whatever reached it before the cut: no unchoke, no piece, no metadata
    expect(outside.ids).not.toContain(1)
    expect(outside.ids).not.toContain(7)
    expect(outside.raw.includes(Buffer.from('piece length'))).toBe(false)

    const inside = await rawPeer(port, infoHash, '127.0.0.1', 3000)
    expect(inside.closed).toBe(false)
    // unchoked, and the block of piece 0 came (id 7)
    expect(inside.ids).toContain(1)
    expect(inside.ids).toContain(7)
  })
})
