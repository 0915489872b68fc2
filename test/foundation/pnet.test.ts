import { randomBytes } from 'node:crypto'
import { createRequire } from 'node:module'
import { preSharedKey } from '@libp2p/pnet'
import type { Libp2p } from 'libp2p'
import { afterEach, describe, expect, it } from 'vitest'
import { newSwarmKey } from '../../bootstrap/swarm-key.js'
import { decodeSwarmKey, pskProtector } from '../../src/mesh/pnet.js'
import { XSalsa20Stream } from '../../src/mesh/xsalsa20-stream.js'
import { waitFor } from '../helpers/cluster.js'
import { bareNode, digestLine, sendToSink } from './pnet-support.js'

const MiB = 1024 * 1024
// the cipher @libp2p/pnet uses: the reference for the wire format
const xsalsa20 = createRequire(import.meta.url)('xsalsa20') as (nonce: Uint8Array, key: Uint8Array) => { update(b: Uint8Array): Uint8Array }

let nodes: Libp2p[] = []
afterEach(async () => {
  await Promise.all(nodes.map((n) => n.stop()))
  nodes = []
})

describe('XSalsa20Stream', () => {
  it('gives the same bytes as the xsalsa20 package for pieces of any size, mid-block included', () => {
    const key = randomBytes(32)
    const nonce = randomBytes(24)
    const sizes = [0, 1, 63, 64, 65, 1, 127, 128, 129, 4096, 3, 65_536, 65_535, 70_001, 0, 64]
    const total = sizes.reduce((a, b) => a + b, 0)
    const data = randomBytes(total)
    // one reference instance, under 640 KiB in total: the WASM stays in its initial memory
    const ref = xsalsa20(nonce, key).update(data)
    const ours = new XSalsa20Stream(key, nonce)
    const parts: Uint8Array[] = []
    let off = 0
    for (const s of sizes) {
      parts.push(ours.update(data.subarray(off, off + s)))
      off += s
    }
    expect(Buffer.concat(parts).equals(Buffer.from(ref))).toBe(true)
    expect(ours.position).toBe(total)
    // and one call over it all, on an unaligned view, is the same again
    const shifted = Buffer.alloc(total + 1)
    data.copy(shifted, 1)
    expect(Buffer.from(new XSalsa20Stream(key, nonce).update(shifted.subarray(1))).equals(Buffer.from(ref))).toBe(true)
  })

  it('decrypts what it encrypted, and refuses bad key and nonce lengths', () => {
    const key = randomBytes(32)
    const nonce = randomBytes(24)
    const data = randomBytes(3 * MiB + 5)
    const back = new XSalsa20Stream(key, nonce).update(new XSalsa20Stream(key, nonce).update(data))
    expect(Buffer.from(back).equals(data)).toBe(true)
    expect(() => new XSalsa20Stream(randomBytes(16), nonce)).toThrow(/key must be 32 bytes/)
    expect(() => new XSalsa20Stream(key, randomBytes(8))).toThrow(/nonce must be 24 bytes/)
  })

  it('reads the 32-byte key of a swarm key file and refuses anything else', () => {
    const file = newSwarmKey()
    const hex = new TextDecoder().decode(file).split('\n')[2]!
    expect(Buffer.from(decodeSwarmKey(file)).toString('hex')).toBe(hex.toLowerCase())
    expect(() => decodeSwarmKey(new TextEncoder().encode('/key/swarm/psk/1.0.0/\n/base16/\nabcd'))).toThrow(/64 hex digits/)
  })
})

describe('pnet protector', () => {
  it('interoperates with @libp2p/pnet both ways, and large writes both ways on several connections do not crash', async () => {
    const psk = newSwarmKey()
    const stock = await bareNode(preSharedKey({ psk }))
    const ours = await bareNode(pskProtector({ psk }))
    const ours2 = await bareNode(pskProtector({ psk }))
    nodes.push(stock, ours, ours2)
    // stock side: writes of 64 KiB, which its WASM memory takes without growing
    const small = randomBytes(4 * MiB + 17)
    expect(await sendToSink(stock, ours.getMultiaddrs()[0]!, small, 64 * 1024)).toBe(digestLine(small))
    expect(await sendToSink(ours, stock.getMultiaddrs()[0]!, small, 64 * 1024)).toBe(digestLine(small))
    // ours to ours: 4 MiB writes (yamux hands the protector up to a window at once), four streams at once both ways
    const big = randomBytes(24 * MiB)
    const results = await Promise.all([
      sendToSink(ours, ours2.getMultiaddrs()[0]!, big, 4 * MiB),
      sendToSink(ours2, ours.getMultiaddrs()[0]!, big, 4 * MiB),
      sendToSink(ours, ours2.getMultiaddrs()[0]!, big, 4 * MiB),
      sendToSink(ours2, ours.getMultiaddrs()[0]!, big, 4 * MiB),
    ])
    expect(results).toEqual(Array(4).fill(digestLine(big)))
  })

  it('a node with a different swarm key cannot exchange data', async () => {
    const a = await bareNode(pskProtector({ psk: newSwarmKey() }))
    const b = await bareNode(pskProtector({ psk: newSwarmKey(), timeoutMs: 2000 }))
    nodes.push(a, b)
    await expect(sendToSink(a, b.getMultiaddrs()[0]!, randomBytes(1000), 1000)).rejects.toThrow()
  })

  it('a cipher that throws closes that one connection, reports it, and the next connection carries the data', async () => {
    const psk = newSwarmKey()
    const failures: string[] = []
    let armed = true
    const sender = await bareNode(
      pskProtector({
        psk,
        onError: (err, remote) => failures.push(`${remote}: ${err.message}`),
        cipher: (key, nonce, direction) => {
          const real = new XSalsa20Stream(key, nonce)
          return {
            update: (b: Uint8Array) => {
              if (direction === 'out' && armed && real.position > 1 * MiB) {
                armed = false
                throw new RangeError('injected: WebAssembly.Memory.grow(): Maximum memory size exceeded')
              }
              return real.update(b)
            },
          }
        },
      }),
    )
    const receiver = await bareNode(pskProtector({ psk }))
    nodes.push(sender, receiver)
    const data = randomBytes(8 * MiB)
    const to = receiver.getMultiaddrs()[0]!
    await expect(sendToSink(sender, to, data, 256 * 1024)).rejects.toThrow()
    expect(failures).toHaveLength(1)
    expect(failures[0]).toMatch(/127\.0\.0\.1.*injected: WebAssembly/)
    await waitFor('the failed connection to close', () => sender.getConnections().length === 0, 10_000)
    // this process is still here (vitest would report an uncaught error), and a new connection works
    expect(await sendToSink(sender, to, data, 256 * 1024)).toBe(digestLine(data))
  })
})
