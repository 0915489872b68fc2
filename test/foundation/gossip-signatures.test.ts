import { generateKeyPair, publicKeyToProtobuf } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { RPC } from '@libp2p/gossipsub/message'
import { lpStream } from '@libp2p/utils'
import { multiaddr } from '@multiformats/multiaddr'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { encodeHealth, HEALTH_TOPIC, type HealthReport } from '../../protocols/health/index.js'
import { fastMsgId } from '../../src/mesh/fast-msg-id.js'
import { PeerGater } from '../../src/mesh/gater.js'
import { createMesh, pubsubOf, type Mesh } from '../../src/mesh/libp2p.js'
import type { MeshsyncNode } from '../../src/node.js'
import { startNode, stopAll, waitFor } from '../helpers/cluster.js'

const SIGN_PREFIX = new TextEncoder().encode('libp2p-pubsub:')

/** A gossipsub message on the health topic, signed by `key` (or carrying `signature` as given). */
async function message(key: PrivateKey, seqno: bigint, data: Uint8Array, signature?: Uint8Array): Promise<RPC.Message> {
  const seq = new Uint8Array(8)
  new DataView(seq.buffer).setBigUint64(0, seqno)
  const unsigned: RPC.Message = { from: peerIdFromPrivateKey(key).toMultihash().bytes, data, seqno: seq, topic: HEALTH_TOPIC }
  const toSign = new Uint8Array([...SIGN_PREFIX, ...RPC.Message.encode(unsigned)])
  return { ...unsigned, signature: signature ?? (await key.sign(toSign)), key: publicKeyToProtobuf(key.publicKey) }
}

const health = (seq: number, name: string): HealthReport => ({
  seq, timeMs: 1, name, role: 'worker', provider: 'x', tags: [], ephemeral: false,
  disk: { total: 100, free: 50, usedFraction: 0.5, level: 'push' }, load: 0.1, accepting: true, version: '0', uptimeMs: 1,
  addrs: [], btPort: 0, transports: [], manifest: { seq: 0, digest: '00'.repeat(32), count: 0 }, evacuating: false, evacuateDeadlineMs: 0, downloading: [], transfersActive: 0,
})

describe('gossipsub fast message IDs', () => {
  it('give exact copies one ID and any changed field, or a byte moved between fields, another', async () => {
    const key = await generateKeyPair('Ed25519')
    const m = await message(key, 7n, encodeHealth(health(1, 'a')))
    const id = fastMsgId(m)
    expect(fastMsgId({ ...m, data: m.data!.slice() })).toBe(id)
    const variants: RPC.Message[] = [
      { ...m, data: encodeHealth(health(1, 'b')) },
      { ...m, seqno: new Uint8Array(8) },
      { ...m, signature: m.signature!.map((b, i) => (i === 0 ? b ^ 1 : b)) },
      { ...m, key: undefined },
      { ...m, from: undefined },
      { ...m, topic: `${HEALTH_TOPIC}x` },
      // the last byte of data moved into the front of the signature: same bytes in a row, other fields
      { ...m, data: m.data!.subarray(0, -1), signature: new Uint8Array([m.data!.at(-1)!, ...m.signature!]) },
      { ...m, data: new Uint8Array(0) },
      { ...m, data: undefined },
    ]
    const ids = variants.map(fastMsgId)
    expect(new Set([id, ...ids]).size).toBe(variants.length + 1)
  })
})

/**
 * With fast message IDs, gossipsub drops an exact copy of an accepted message
 * before checking its signature. This checks against a real node that every
 * message that is not an exact copy is still verified: a forged message (an
 * honest peer's ID, a signature that does not match) sent before the real
 * one neither lands nor keeps the real one out, and an altered copy sent
 * after it does not land either.
 */
describe('signatures are still checked on gossip from a raw peer', () => {
  let node: MeshsyncNode
  let raw: Mesh

  beforeAll(async () => {
    node = await startNode({ name: 'target' })
    raw = await createMesh(
      { privateKey: await generateKeyPair('Ed25519'), listen: ['/ip4/127.0.0.1/tcp/0'], announce: [], bootstrap: [], gater: new PeerGater([]), protocolPrefix: '/meshsync', lan: true, localCluster: true, maxConnections: 10 },
      {},
    )
    await raw.start()
    await raw.dial(multiaddr(node.addresses[0]!))
  })
  afterAll(async () => {
    await raw?.stop()
    await stopAll([node])
  })

  it('applies the honest message, never the forged or altered ones', async () => {
    const honest = await generateKeyPair('Ed25519')
    const honestId = peerIdFromPrivateKey(honest).toString()
    const real = await message(honest, 41n, encodeHealth(health(10, 'real')))
    // same origin and seqno, other data, the real signature (which does not cover this data)
    const forged = await message(honest, 41n, encodeHealth(health(11, 'forged')), real.signature)
    // a later seqno the honest peer never signed
    const altered = await message(honest, 42n, encodeHealth(health(12, 'altered')), real.signature)
    const second = await message(honest, 43n, encodeHealth(health(13, 'real-2')))

    const stream = await raw.dialProtocol(node.mesh.peerId, ['/meshsub/1.2.0', '/meshsub/1.1.0'])
    const lp = lpStream(stream)
    const send = (msgs: RPC.Message[]) => lp.write(RPC.encode({ subscriptions: [{ subscribe: true, topic: HEALTH_TOPIC }], messages: msgs, control: undefined }))
    const seen: string[] = []
    pubsubOf(node.mesh).addEventListener('message', (e) => {
      if (e.detail.type === 'signed' && e.detail.from.toString() === honestId) seen.push(new TextDecoder().decode(e.detail.data))
    })

    await send([forged])
    await send([real])
    await waitFor('the honest health applied', () => node.view.get(honestId)?.name === 'real')
    await send([real, altered, real])
    await send([second])
    await waitFor('the second honest health applied', () => node.view.get(honestId)?.name === 'real-2')
    expect(node.view.get(honestId)?.healthSeq).toBe(13)
    // delivered once each: the copies of `real` were dropped as duplicates, the forged and altered ones rejected
    expect(seen.filter((s) => s.includes('real')).length).toBe(2)
    expect(seen.some((s) => s.includes('forged') || s.includes('altered'))).toBe(false)
    await stream.close()
  })
})
