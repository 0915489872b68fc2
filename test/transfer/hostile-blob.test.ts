import { createHash, randomBytes } from 'node:crypto'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { peerIdFromString } from '@libp2p/peer-id'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Request as PbRequest } from '../../protocols/blob/blob.pb.js'
import { BLOB_PROTOCOL, type BlobClient, type BlobServer } from '../../protocols/blob/index.js'
import { decodeResponse, encodeRequest, Status } from '../../protocols/blob/codec.js'
import { StreamReader, StreamWriter, varint } from '../../protocols/blob/stream-io.js'
import type { MeshsyncNode } from '../../src/node.js'
import { NotFoundError } from '../../src/util/errors.js'
import { startNode, stopAll, waitFor } from '../helpers/cluster.js'
import { NO_REPLICATION, sha256Of } from './support.js'

/**
 * The holder's side of /meshsync/blob/1.0.0 against requests no honest
 * receiver sends: each gets a typed error (or the stream is closed), and the
 * holder goes on serving valid requests.
 */

type Outcome = { kind: 'error'; status: Status; message: string } | { kind: 'closed' } | { kind: 'reset'; error: string } | { kind: 'answer'; type: string }

function framed(body: Uint8Array): Uint8Array {
  return Buffer.concat([varint(body.byteLength), body])
}

describe('hostile blob requests', () => {
  let server: MeshsyncNode
  let client: MeshsyncNode
  const data = randomBytes(300 * 1024)
  const sha = sha256Of(data)
  const invalidBefore = (): number => server.events.list({ types: ['invalid_message'], limit: 10_000 }).length

  beforeAll(async () => {
    server = await startNode({ name: 'hb-server', settings: NO_REPLICATION })
    client = await startNode({ name: 'hb-client', bootstrap: [server.addresses[0]!], settings: NO_REPLICATION })
    await writeFile(join(server.layout.dataDir, 'one.bin'), data)
    await waitFor('the file cataloged on the server', () => server.manifest.bySha(sha).length > 0)
    await waitFor('connected', () => client.mesh.getConnections(peerIdFromString(server.peerId)).length > 0)
    await waitFor('the server up in the client view', () => client.view.get(server.peerId)?.state === 'up')
  })
  afterAll(async () => {
    await stopAll([server, client])
  })

  /** Sends raw bytes on a fresh blob stream (then closes our side if asked) and reads what comes back. */
  async function exchange(bytes: Uint8Array, closeWrite = true): Promise<Outcome> {
    const signal = AbortSignal.timeout(10_000)
    const stream = await client.mesh.dialProtocol(peerIdFromString(server.peerId), BLOB_PROTOCOL, { signal })
    const reader = new StreamReader(stream)
    try {
      if (bytes.byteLength > 0) await new StreamWriter(stream).raw(bytes, signal)
      if (closeWrite) void stream.close({ signal }).catch(() => {})
      const msg = await reader.next(64 * 1024, signal)
      if (msg == null) return { kind: 'closed' }
      const r = decodeResponse(msg)
      return r.type === 'error' ? { kind: 'error', status: r.status, message: r.message } : { kind: 'answer', type: r.type }
    } catch (err) {
      return { kind: 'reset', error: (err as Error).message }
    } finally {
      stream.abort(new Error('test done'))
    }
  }

  async function expectValidServe(): Promise<void> {
    const blob = client.mesh.services.blobClient as BlobClient
    const s = await blob.open(peerIdFromString(server.peerId), sha, { priority: 'normal', copies: 0, signal: AbortSignal.timeout(10_000) })
    try {
      expect(s.meta).toMatchObject({ size: data.byteLength, sha256: sha, complete: true })
      await s.request([0], AbortSignal.timeout(10_000))
      let ev = await s.next({ buffer: async (_i, len) => new Uint8Array(len) }, AbortSignal.timeout(10_000))
      // the first request also asked for the holder's bitfield
      if (ev.type === 'have') ev = await s.next({ buffer: async (_i, len) => new Uint8Array(len) }, AbortSignal.timeout(10_000))
      expect(ev.type).toBe('chunk')
      if (ev.type === 'chunk') expect(createHash('sha256').update(ev.data).digest('hex')).toBe(sha)
    } finally {
      await s.close()
    }
  }

  it('answers NOT_FOUND (NotFoundError) for a hash it does not hold', async () => {
    const blob = client.mesh.services.blobClient as BlobClient
    const missing = sha256Of(randomBytes(8))
    const err = await blob.open(peerIdFromString(server.peerId), missing, { priority: 'normal', copies: 0, signal: AbortSignal.timeout(10_000) }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(NotFoundError)
    expect((err as NotFoundError).code).toBe('ERR_NOT_FOUND')
    expect(await exchange(framed(encodeRequest({ sha256: missing, meta: true })))).toMatchObject({ kind: 'error', status: Status.NOT_FOUND })
    await expectValidServe()
  })

  const ones = (n: number) => Array.from({ length: n }, () => 0)
  const cases: [string, () => Uint8Array, Status | 'error or closed', boolean?][] = [
    ['protobuf garbage', () => framed(new Uint8Array(10).fill(0xff)), Status.BAD_REQUEST],
    ['random bytes', () => randomBytes(4096), 'error or closed'],
    ['a 1 GiB length prefix', () => varint(2 ** 30), Status.OVER_LIMIT, false],
    ['a length prefix just over the 16 KiB request limit', () => varint(16 * 1024 + 1), Status.OVER_LIMIT, false],
    ['a length prefix that never ends', () => new Uint8Array(8).fill(0xff), Status.BAD_REQUEST],
    ['a sha256 of 31 bytes', () => framed(PbRequest.encode({ sha256: new Uint8Array(31), meta: true, have: false, chunks: [], priority: 0, copies: 0 })), Status.BAD_REQUEST],
    ['a sha256 of 33 bytes', () => framed(PbRequest.encode({ sha256: new Uint8Array(33), meta: true, have: false, chunks: [], priority: 0, copies: 0 })), Status.BAD_REQUEST],
    ['a first request naming no file', () => framed(encodeRequest({ meta: true })), Status.BAD_REQUEST],
    ['a priority out of range', () => framed(PbRequest.encode({ sha256: Buffer.from(sha, 'hex'), meta: true, have: false, chunks: [], priority: 9, copies: 0 })), Status.BAD_REQUEST],
    ['a chunk index past the end', () => framed(encodeRequest({ sha256: sha, chunks: [1] })), Status.BAD_REQUEST],
    ['more than 1024 chunks in one request', () => framed(encodeRequest({ sha256: sha, chunks: ones(1025) })), Status.BAD_REQUEST],
    ['more than 256 chunks outstanding', () => framed(encodeRequest({ sha256: sha, chunks: ones(300) })), Status.OVER_LIMIT],
    ['a frame cut short', () => Buffer.concat([varint(100), new Uint8Array(10)]), Status.BAD_REQUEST],
    ['nothing at all', () => new Uint8Array(0), 'error or closed'],
  ]

  it.each(cases)('%s: a typed error or a clean close, then it serves a valid request', async (_name, make, want, closeWrite = true) => {
    const errorsBefore = (server.mesh.services.blobServer as BlobServer).stats.errors
    const out = await exchange(make(), closeWrite)
    if (want === 'error or closed') {
      expect(['error', 'closed']).toContain(out.kind)
      if (out.kind === 'error') expect([Status.BAD_REQUEST, Status.OVER_LIMIT]).toContain(out.status)
    } else {
      expect(out).toMatchObject({ kind: 'error', status: want })
      expect((out as { message: string }).message.length).toBeGreaterThan(0)
      expect((server.mesh.services.blobServer as BlobServer).stats.errors).toBeGreaterThan(errorsBefore)
    }
    await expectValidServe()
  })

  it('a malformed request after a good one: the answers so far, then a typed error', async () => {
    const signal = AbortSignal.timeout(10_000)
    const stream = await client.mesh.dialProtocol(peerIdFromString(server.peerId), BLOB_PROTOCOL, { signal })
    const reader = new StreamReader(stream)
    try {
      await new StreamWriter(stream).raw(Buffer.concat([framed(encodeRequest({ sha256: sha, meta: true })), framed(new Uint8Array(10).fill(0xff))]), signal)
      const first = decodeResponse((await reader.next(64 * 1024, signal))!)
      expect(first.type).toBe('meta')
      const second = decodeResponse((await reader.next(64 * 1024, signal))!)
      expect(second).toMatchObject({ type: 'error', status: Status.BAD_REQUEST })
    } finally {
      stream.abort(new Error('test done'))
    }
    await expectValidServe()
  })

  it('bounds the requests it queues: a peer that asks and never reads gets OVER_LIMIT, not an ever-growing queue', async () => {
    const signal = AbortSignal.timeout(20_000)
    const stream = await client.mesh.dialProtocol(peerIdFromString(server.peerId), BLOB_PROTOCOL, { signal })
    // a small buffer here: the stream is paused at once and the holder's writes back up
    const reader = new StreamReader(stream, { highWater: 1024 })
    const metaAsk = framed(encodeRequest({ meta: true }))
    try {
      const many = Buffer.concat([framed(encodeRequest({ sha256: sha, meta: true })), ...Array.from({ length: 100_000 }, () => metaAsk)])
      // not awaited: once the holder gives up on this stream it stops reading, and our writes stay blocked
      void new StreamWriter(stream).raw(many, signal).catch(() => {})
      await new Promise((r) => setTimeout(r, 500))
      let metas = 0
      let last: ReturnType<typeof decodeResponse> | undefined
      for (;;) {
        const msg = await reader.next(64 * 1024, signal).catch(() => null)
        if (msg == null) break
        last = decodeResponse(msg)
        if (last.type !== 'meta') break
        metas++
      }
      expect(last).toMatchObject({ type: 'error', status: Status.OVER_LIMIT })
      expect(metas).toBeLessThan(100_001)
    } finally {
      stream.abort(new Error('test done'))
    }
    await expectValidServe()
  })

  it('reports malformed requests as invalid_message events, and a flood of them leaves it serving', async () => {
    const before = invalidBefore()
    const outs = await Promise.all(Array.from({ length: 24 }, (_, i) => exchange(i % 2 === 0 ? framed(new Uint8Array(10).fill(0xff)) : varint(2 ** 30), i % 2 === 0)))
    for (const o of outs) expect(o.kind).toBe('error')
    await waitFor('invalid_message events for the flood', () => invalidBefore() >= before + 24)
    const ev = server.events.list({ types: ['invalid_message'], limit: 10_000 }).at(-1)
    expect(ev?.peer).toBe(client.peerId)
    expect(ev?.data?.topic).toBe('blob')
    await expectValidServe()
    // and a whole-file fetch still works end to end
    const landed = await client.fetch(sha, { signal: AbortSignal.timeout(30_000) })
    expect(landed.sha256).toBe(sha)
  })
})
