import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { MeshsyncNode } from '../../src/node.js'
import { startNode, stopAll, waitFor } from '../helpers/cluster.js'
import { NO_REPLICATION, sha256Of } from './support.js'

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
