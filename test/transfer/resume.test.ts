import { randomBytes } from 'node:crypto'
import { existsSync, readFileSync } from 'node:fs'
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Bitfield } from '../../protocols/blob/index.js'
import { ProcessNode } from '../../sim/harness/process-node.js'
import type { MeshsyncNode } from '../../src/node.js'
import type { MeshsyncEvent } from '../../src/state/event-log.js'
import type { TransferJson } from '../../src/transfer/manager.js'
import { FAST, startNode, stopAll, waitFor } from '../helpers/cluster.js'
import { CLI_JS, dataFiles, NO_REPLICATION, sha256Of, sha256OfFile } from './support.js'

const MiB = 1024 * 1024

describe('resume in process: a transfer that failed after its last chunk', () => {
  let src: MeshsyncNode
  let dst: MeshsyncNode
  const settings = { ...NO_REPLICATION, 'transfer.backoffBaseSeconds': 0.2, 'transfer.backoffMaxSeconds': 0.5 }
  beforeAll(async () => {
    src = await startNode({ name: 'rs-src', settings })
    dst = await startNode({ name: 'rs-dst', bootstrap: [src.addresses[0]!], settings })
    await waitFor('the source up in the receiver view', () => dst.view.get(src.peerId)?.state === 'up')
  })
  afterAll(async () => {
    await stopAll([src, dst])
  })

  it('lands on the retry from the chunks it already verified, fetching nothing again', async () => {
    const data = randomBytes(3 * MiB + 5)
    const sha = sha256Of(data)
    await mkdir(join(src.layout.dataDir, 'sub'))
    await writeFile(join(src.layout.dataDir, 'sub', 'x.bin'), data)
    // a file where the receiver needs a folder: landing fails after every chunk is in and verified
    await writeFile(join(dst.layout.dataDir, 'sub'), 'in the way')
    await waitFor('announced', () => dst.view.holders(sha).includes(src.peerId))
    const landed = dst.fetch(sha, { signal: AbortSignal.timeout(30_000) })
    landed.catch(() => {})
    const failed = await waitFor('the first attempt to fail at landing', () => dst.events.list({ types: ['sync_failed'] }).find((e) => e.sha256 === sha))
    expect(failed.data?.reason).toContain('not a folder')
    expect(failed.data?.final).toBe(false)
    expect(await readdir(dst.layout.staging)).toEqual([`${sha}.part`])
    await rm(join(dst.layout.dataDir, 'sub'))

    const entry = await landed
    expect(entry.path).toBe('sub/x.bin')
    expect((await readFile(join(dst.layout.dataDir, 'sub', 'x.bin'))).equals(data)).toBe(true)
    const done = dst.events.list({ types: ['sync_completed'] }).find((e) => e.sha256 === sha)
    expect(done?.data).toMatchObject({ checksumVerified: true, resumedChunks: 4, bytesReceived: 0 })
    expect(existsSync(join(dst.layout.staging, `${sha}.part`))).toBe(false)
  })
})

describe('abandoned staging files while the node runs', () => {
  let src: MeshsyncNode | undefined
  let dst: MeshsyncNode
  afterAll(async () => {
    await stopAll([src, dst])
  })

  it('a transfer given up longer than stagingMaxAgeSeconds ago loses its row and staging file without a restart', async () => {
    const settings = { ...NO_REPLICATION, 'bittorrent.enabled': false }
    src = await startNode({ name: 'ab-src', settings })
    dst = await startNode({
      name: 'ab-dst',
      bootstrap: [src.addresses[0]!],
      settings: { ...settings, 'bandwidth.download': 8 * MiB, 'transfer.retries': 0, 'transfer.stagingMaxAgeSeconds': 1 },
    })
    await waitFor('the source up in the receiver view', () => dst.view.get(src!.peerId)?.state === 'up')
    const data = randomBytes(24 * MiB)
    const sha = sha256Of(data)
    await writeFile(join(src.layout.dataDir, 'gone.bin'), data)
    await waitFor('announced', () => dst.view.holders(sha).includes(src!.peerId))
    const fetched = dst.fetch(sha).catch((e: unknown) => e)
    await waitFor('some progress', () => (dst.transfers.progress(sha)?.chunksDone ?? 0) >= 3, 30_000, 20)
    // the only holder leaves: the transfer is given up (retries 0), its staging file kept for a while
    await src.stop()
    src = undefined
    expect(await fetched).toBeInstanceOf(Error)
    expect(dst.transfers.list().find((t) => t.sha256 === sha)?.state).toBe('failed')
    expect(await readdir(dst.layout.staging)).toEqual([`${sha}.part`])
    await waitFor('the abandoned staging file and its row removed', async () => (await readdir(dst.layout.staging)).length === 0 && dst.transfers.list().length === 0, 15_000)
  })
})

describe('resume in process mode: kill -9 of the receiver, of a source, and abandoned staging files', () => {
  const RATE = 24 * MiB
  const SIZE = 48 * MiB + 4321
  const CHUNKS = 49
  const PIPELINE = 8
  let scratch: string
  let s1: ProcessNode | undefined
  let s2: ProcessNode | undefined
  let r: ProcessNode | undefined
  const files = { x: randomBytes(SIZE), y: randomBytes(SIZE), z: randomBytes(SIZE) }
  const sha = { x: sha256Of(files.x), y: sha256Of(files.y), z: sha256Of(files.z) }
  const rDir = (): string => join(scratch, 'r')
  // BitTorrent off: these tests are about the libp2p blob path
  const base = { ...FAST, ...NO_REPLICATION, 'bittorrent.enabled': false, 'transfer.backoffBaseSeconds': 0.2, 'transfer.backoffMaxSeconds': 1 }
  const receiverSettings = (extra: Record<string, unknown> = {}) => ({ ...base, 'bandwidth.download': RATE, 'transfer.pipelinePerSource': PIPELINE, ...extra })
  const log = (name: string): string | undefined => (process.env.TRANSFER_TEST_LOGS != null ? join(process.env.TRANSFER_TEST_LOGS, `${name}.log`) : undefined)

  async function startReceiver(extra: Record<string, unknown> = {}): Promise<ProcessNode> {
    const boot = [s1, s2].filter((n) => n?.running).map((n) => n!.addresses[0]!)
    const node = await ProcessNode.start({ name: 'r', dataDir: rDir(), bootstrap: boot, settings: receiverSettings(extra), logFile: log('r') })
    return node
  }

  async function waitUp(node: ProcessNode, sources: ProcessNode[]): Promise<void> {
    await waitFor('the sources up with their files in the receiver view', async () => {
      const peers = await node.get<{ peerId: string; state: string; files: number }[]>('/peers')
      return sources.every((s) => peers.some((p) => p.peerId === s.peerId && p.state === 'up' && p.files >= 3))
    })
  }

  async function transfer(node: ProcessNode, s: string): Promise<TransferJson | undefined> {
    return (await node.get<TransferJson[]>('/transfers')).find((t) => t.sha256 === s)
  }

  async function landed(node: ProcessNode, s: string): Promise<void> {
    await waitFor(
      `${s.slice(0, 12)} to land`,
      async () => {
        const t = await node.get<{ state: string; lastError?: string }>(`/transfer?sha256=${s}`)
        if (t.state === 'failed') throw new Error(`transfer failed: ${t.lastError}`)
        return t.state === 'landed'
      },
      60_000,
    )
  }

  async function completed(node: ProcessNode, s: string): Promise<MeshsyncEvent> {
    const list = await node.get<MeshsyncEvent[]>('/events?type=sync_completed')
    return list.find((e) => e.sha256 === s)!
  }

  /** What the receiver's state database and staging file hold for a transfer (the node must be down). */
  function onDisk(s: string): { recorded: number; verified: number } {
    const db = new Database(join(rDir(), '.meshsync', 'state.db'), { fileMustExist: true })
    try {
      const row = db.prepare('SELECT have, chunk_hashes, staging FROM transfers WHERE sha256 = ?').get(s) as { have: Buffer | null; chunk_hashes: Buffer | null; staging: string }
      const recorded = row.have != null ? new Bitfield(CHUNKS, row.have).count() : 0
      let verified = 0
      const staged = readFileSync(join(rDir(), '.meshsync', 'staging', row.staging))
      for (let i = 0; i < CHUNKS && row.chunk_hashes != null; i++) {
        const chunk = staged.subarray(i * MiB, Math.min(SIZE, (i + 1) * MiB))
        if (sha256Of(chunk) === row.chunk_hashes.subarray(i * 32, i * 32 + 32).toString('hex')) verified++
      }
      return { recorded, verified }
    } finally {
      db.close()
    }
  }

  beforeAll(async () => {
    if (!existsSync(CLI_JS)) throw new Error(`${CLI_JS} is missing: run tools/node24 npm run build first`)
    scratch = await mkdtemp(join(tmpdir(), 'meshsync-resume-'))
    for (const n of ['s1', 's2']) {
      await mkdir(join(scratch, n))
      for (const [k, buf] of Object.entries(files)) await writeFile(join(scratch, n, `${k}.bin`), buf)
    }
    s1 = await ProcessNode.start({ name: 's1', dataDir: join(scratch, 's1'), settings: base, logFile: log('s1') })
    s2 = await ProcessNode.start({ name: 's2', dataDir: join(scratch, 's2'), bootstrap: [s1.addresses[0]!], settings: base, logFile: log('s2') })
  })
  afterAll(async () => {
    for (const n of [r, s1, s2]) n?.kill()
    await Promise.all([r, s1, s2].map((n) => n?.exited))
    if (scratch != null) await rm(scratch, { recursive: true, force: true })
  })

  it('kill -9 of the receiver mid-transfer: after a restart it resumes from its verified chunks', async () => {
    r = await startReceiver()
    await waitUp(r, [s1!, s2!])
    await r.post('/fetch', { sha256: sha.x })
    const seen = await waitFor('a third of the file', async () => {
      const p = (await transfer(r!, sha.x))?.progress
      return p != null && p.chunksDone >= CHUNKS / 3 ? p.chunksDone : undefined
    }, 60_000, 20)
    r.kill()
    await r.exited
    const disk = onDisk(sha.x)
    // every chunk the state database records was verified, and the ones it missed are at most one pipeline
    expect(disk.recorded).toBeGreaterThanOrEqual(seen - PIPELINE)
    expect(disk.verified).toBeGreaterThanOrEqual(disk.recorded)
    expect(disk.verified - disk.recorded).toBeLessThanOrEqual(PIPELINE)
    expect(disk.verified).toBeLessThan(CHUNKS)

    r = await startReceiver({ 'transfer.retries': 0 })
    await landed(r, sha.x)
    expect((await readFile(join(rDir(), 'x.bin'))).equals(files.x)).toBe(true)
    const done = await completed(r, sha.x)
    expect(done.data).toMatchObject({ checksumVerified: true, resumedChunks: disk.recorded })
    // fetched again: only what was missing, plus at most the chunks in flight (one pipeline per source)
    expect(done.data?.bytesReceived as number).toBeLessThanOrEqual((CHUNKS - disk.recorded + 2 * PIPELINE) * MiB)
  })

  it('kill -9 of one source mid-transfer: the download moves to the other and completes', async () => {
    await waitUp(r!, [s1!, s2!])
    await r!.post('/fetch', { sha256: sha.y })
    await waitFor('both sources in use and some progress', async () => {
      const p = (await transfer(r!, sha.y))?.progress
      return p?.sources.includes(s1!.peerId) === true && p.sources.includes(s2!.peerId) && p.chunksDone >= 6
    }, 60_000, 20)
    s1!.kill()
    await s1!.exited
    await landed(r!, sha.y)
    expect((await readFile(join(rDir(), 'y.bin'))).equals(files.y)).toBe(true)
    const done = await completed(r!, sha.y)
    expect(done.data?.sources).toContain(s2!.peerId)
    // the vanished holder cost at most the chunks it had in flight
    expect(done.data?.bytesReceived as number).toBeLessThanOrEqual(SIZE + PIPELINE * MiB)
    // one attempt: the download itself did not fail
    expect((await r!.get<MeshsyncEvent[]>('/events?type=sync_failed')).filter((e) => e.sha256 === sha.y)).toEqual([])
  })

  it('removes the staging files of abandoned transfers (and strays) at start, and keeps what landed', async () => {
    // the only source left dies mid-transfer: with retries 0 the transfer is given up, its staging file left behind
    await r!.post('/fetch', { sha256: sha.z })
    await waitFor('some progress', async () => ((await transfer(r!, sha.z))?.progress?.chunksDone ?? 0) >= 4, 60_000, 20)
    s2!.kill()
    await s2!.exited
    await waitFor('the transfer given up', async () => (await transfer(r!, sha.z))?.state === 'failed', 30_000)
    r!.kill()
    await r!.exited
    const staging = join(rDir(), '.meshsync', 'staging')
    expect(await readdir(staging)).toEqual([`${sha.z}.part`])
    await writeFile(join(staging, 'stray.part'), 'left by a crash')
    await mkdir(join(staging, 'stray-dir'))
    await new Promise((res) => setTimeout(res, 1100))

    r = await startReceiver({ 'transfer.stagingMaxAgeSeconds': 1 })
    expect(await readdir(staging)).toEqual([])
    expect((await r.get<TransferJson[]>('/transfers')).map((t) => t.sha256)).toEqual([])
    expect(await dataFiles(rDir())).toEqual(['x.bin', 'y.bin'])
    expect(await sha256OfFile(join(rDir(), 'x.bin'))).toBe(sha.x)
  })
})
