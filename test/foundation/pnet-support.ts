import { createHash } from 'node:crypto'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import type { ConnectionProtector, Stream } from '@libp2p/interface'
import { tcp } from '@libp2p/tcp'
import type { Multiaddr } from '@multiformats/multiaddr'
import { createLibp2p, type Libp2p } from 'libp2p'
import { pEvent } from 'p-event'
import { YAMUX_INIT } from '../../src/mesh/libp2p.js'

/** A bare libp2p node (TCP, the given protector, noise, yamux with meshsync's windows) with a hashing sink protocol. */
export async function bareNode(protector: (components: never) => ConnectionProtector): Promise<Libp2p> {
  const node = await createLibp2p({
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux(YAMUX_INIT)],
    connectionProtector: protector,
  })
  await node.handle(SINK, async (stream) => {
    const h = createHash('sha256')
    let n = 0
    for await (const chunk of stream) {
      const b = chunk.subarray()
      h.update(b)
      n += b.byteLength
    }
    stream.send(new TextEncoder().encode(`${n} ${h.digest('hex')}`))
    await stream.close()
  })
  return node
}

export const SINK = '/meshsync-test/sink/1.0.0'

/** Sends `data` in writes of `writeSize` bytes to the peer's sink; resolves with "<bytes> <sha256>" as the sink saw it. */
export async function sendToSink(from: Libp2p, to: Multiaddr, data: Uint8Array, writeSize: number): Promise<string> {
  const stream: Stream = await from.dialProtocol(to, SINK)
  for (let off = 0; off < data.length; off += writeSize) {
    if (!stream.send(data.subarray(off, Math.min(data.length, off + writeSize)))) await pEvent(stream, 'drain', { rejectionEvents: ['close'] })
  }
  await stream.close()
  const parts: Uint8Array[] = []
  for await (const chunk of stream) parts.push(chunk.subarray())
  return new TextDecoder().decode(Buffer.concat(parts))
}

export function digestLine(data: Uint8Array): string {
  return `${data.length} ${createHash('sha256').update(data).digest('hex')}`
}
