import { createHash, randomBytes } from 'node:crypto'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { peerIdFromString } from '@libp2p/peer-id'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { BLOB_PROTOCOL } from '../../protocols/blob/index.js'
import { encodeRequest } from '../../protocols/blob/codec.js'
import { StreamWriter, varint } from '../../protocols/blob/stream-io.js'
import type { MeshsyncNode } from '../../src/node.js'
import { startNode, stopAll, waitFor } from '../helpers/cluster.js'
import { NO_REPLICATION } from './support.js'

/** A healthy transfer ends its blob stream at a frame boundary: that is no protocol violation. */
describe('the end of a healthy blob stream', () => {
  let a: MeshsyncNode
  let b: MeshsyncNode
  beforeAll(async () => {
    a = await startNode({ name: 'ce-src', settings: NO_REPLICATION })
    b = await startNode({ name: 'ce-dst', bootstrap: [a.addresses[0]!], settings: NO_REPLICATION })
  })
  afterAll(async () => {
    await stopAll([a, b])
  })

  it('raises no invalid_message on the holder', async () => {
    for (const size of [1, 2 * 1024 * 1024 + 7]) {
      const data = randomBytes(size)
      const sha = createHash('sha256').update(data).digest('hex')
      await writeFile(join(a.layout.dataDir, `clean-${size}.bin`), data)
      await waitFor('announced to b', () => b.view.holders(sha).includes(a.peerId))
      await b.fetch(sha, { signal: AbortSignal.timeout(30_000) })
    }
    // the holder sees the end of the stream after the receiver has its bytes
    await new Promise((r) => setTimeout(r, 1500))
    const invalid = a.events.list({ types: ['invalid_message'], limit: 100 })
    expect(invalid.map((e) => e.data)).toEqual([])
    // and nothing counted against either side
    for (const [node, other] of [[a, b], [b, a]] as const) expect(node.breakers.snapshot()[other.peerId]?.failures ?? 0).toBe(0)
  })

  const invalidCount = (): number => a.events.list({ types: ['invalid_message'], limit: 1000 }).length
  async function rawStream(bytes: Uint8Array, end: 'close' | 'reset'): Promise<void> {
    const signal = AbortSignal.timeout(10_000)
    const stream = await b.mesh.dialProtocol(peerIdFromString(a.peerId), BLOB_PROTOCOL, { signal })
    if (bytes.byteLength > 0) await new StreamWriter(stream).raw(bytes, signal)
    if (end === 'close') await stream.close({ signal }).catch(() => {})
    else stream.abort(new Error('receiver called it off'))
  }

  it('a stream closed or reset between messages is no violation; a frame cut short still is', async () => {
    const data = randomBytes(1000)
    const sha = createHash('sha256').update(data).digest('hex')
    await writeFile(join(a.layout.dataDir, 'raw.bin'), data)
    await waitFor('cataloged', () => a.manifest.bySha(sha).length > 0)
    const req = encodeRequest({ sha256: sha, meta: true })
    const whole = Buffer.concat([varint(req.byteLength), req])
    const before = invalidCount()
    await rawStream(new Uint8Array(0), 'close')
    await rawStream(new Uint8Array(0), 'reset')
    await rawStream(whole, 'reset')
    await rawStream(whole, 'close')
    await new Promise((r) => setTimeout(r, 1000))
    expect(invalidCount()).toBe(before)
    // a message cut off part-way by a clean end is still a protocol violation
    await rawStream(whole.subarray(0, whole.byteLength - 3), 'close')
    const ev = await waitFor('an invalid_message for the cut frame', () => a.events.list({ types: ['invalid_message'], limit: 1000 }).at(before))
    expect(ev.data).toMatchObject({ topic: 'blob', reason: expect.stringMatching(/stream ended \d+ bytes into a \d+-byte frame/) })
  })
})
