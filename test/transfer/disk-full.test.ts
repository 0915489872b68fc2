import { spawnSync } from 'node:child_process'
import { mkdir, mkdtemp, open, readdir, rm, statfs } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { MeshsyncNode } from '../../src/node.js'
import type { MeshsyncEvent } from '../../src/state/event-log.js'
import { api, startNode, stopAll, waitFor } from '../helpers/cluster.js'
import { MiB, randomFile, sha256File } from '../bittorrent/support.js'

/**
 * A receiver on a real small filesystem (a 40 MiB tmpfs, so this needs root:
 * mount is the only way to get a disk that really fills up; skipped, saying
 * so, without it). Replication is off (one copy per file): every transfer is
 * the test's.
 */
const SETTINGS = { 'policies.solo.minCopies': 1, 'policies.solo.maxCopies': 1, 'bittorrent.enabled': false }

function mountTmpfs(dir: string, size: string): boolean {
  if (process.getuid?.() !== 0) return false
  return spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir], { stdio: 'ignore' }).status === 0
}

const free = async (dir: string): Promise<number> => {
  const s = await statfs(dir)
  return s.bavail * s.bsize
}

/** Writes `path` until the filesystem says it is full. */
async function fillUp(path: string): Promise<void> {
  const fh = await open(path, 'w')
  const block = Buffer.alloc(256 * 1024, 1)
  try {
    for (;;) await fh.write(block)
  } catch (err) {
    if ((err as { code?: string }).code !== 'ENOSPC') throw err
  } finally {
    await fh.close()
  }
}

let mnt = ''
let mounted = false
beforeAll(async () => {
  mnt = await mkdtemp(join(tmpdir(), 'meshsync-small-disk-'))
  mounted = mountTmpfs(mnt, '40m')
  if (!mounted) process.stderr.write('disk-full tests skipped: mounting a tmpfs needs root (mount -t tmpfs)\n')
})
afterAll(async () => {
  if (mounted) spawnSync('umount', ['-l', mnt])
  await rm(mnt, { recursive: true, force: true })
})

describe('a receiver whose disk is too small', () => {
  const nodes: MeshsyncNode[] = []
  let src: MeshsyncNode
  let dst: MeshsyncNode
  afterAll(async () => stopAll(nodes))

  const events = async (n: MeshsyncNode, type: string, sha: string): Promise<MeshsyncEvent[]> =>
    (await api<MeshsyncEvent[]>(n, `/events?type=${type}`)).filter((e) => e.sha256 === sha)

  it('refuses a fetch that cannot fit at once, naming the file and the sizes, writes nothing, and keeps working', async (ctx) => {
    if (!mounted) ctx.skip()
    src = await startNode({ name: 'df-src', settings: { ...SETTINGS, 'bandwidth.upload': 8 * MiB } })
    nodes.push(src)
    await mkdir(join(mnt, 'data'))
    dst = await startNode({ name: 'df-dst', dataDir: join(mnt, 'data'), bootstrap: [src.addresses[0]!], settings: SETTINGS })
    nodes.push(dst)
    const big = await randomFile(join(src.layout.dataDir, 'big.bin'), 48 * MiB)
    const small = await randomFile(join(src.layout.dataDir, 'small.bin'), MiB)
    await waitFor('dst knows both files', () => dst.view.holders(big).length > 0 && dst.view.holders(small).length > 0, 30_000)

    const err = await dst.fetch(big, { signal: AbortSignal.timeout(30_000) }).then(
      () => undefined,
      (e: unknown) => e as Error & { code?: string },
    )
    expect(err?.code).toBe('ERR_NO_SPACE')
    expect(err?.message).toMatch(/not enough disk space for big\.bin: it needs 48\.0 MiB, \d+\.\d MiB is free/)
    const failed = await events(dst, 'sync_failed', big)
    expect(failed.at(-1)?.data).toMatchObject({ code: 'ERR_NO_SPACE', final: true })
    expect(await readdir(dst.layout.staging)).toEqual([])
    expect(dst.transfers.list()).toEqual([])

    await dst.fetch(small, { signal: AbortSignal.timeout(30_000) })
    expect(await sha256File(join(dst.layout.dataDir, 'small.bin'))).toBe(small)
  })

  it('when the disk fills while a transfer runs, the transfer gives its staging space back and fails with ERR_NO_SPACE; the node keeps working', async (ctx) => {
    if (!mounted) ctx.skip()
    const sha = await randomFile(join(src.layout.dataDir, 'mid.bin'), 24 * MiB)
    await waitFor('dst knows the file', () => dst.view.holders(sha).length > 0, 30_000)
    const fetched = dst.fetch(sha, { signal: AbortSignal.timeout(60_000) }).then(
      () => undefined,
      (e: unknown) => e as Error & { code?: string },
    )
    await waitFor('the transfer under way', () => (dst.transfers.progress(sha)?.bytes ?? 0) > 2 * MiB, 30_000)
    // something else on the host fills the disk up
    const hog = join(mnt, 'hog.bin')
    await fillUp(hog)

    const err = await fetched
    expect(err?.code).toBe('ERR_NO_SPACE')
    expect(err?.message).toMatch(/disk full while writing mid\.bin .*staging file was removed/)
    await waitFor('staging removed', async () => (await readdir(dst.layout.staging)).length === 0, 5000)
    expect(await free(mnt)).toBeGreaterThan(MiB)
    expect(dst.transfers.list()).toEqual([])
    expect(dst.manifest.bySha(sha)).toEqual([])

    // room again: the same file now lands, byte-identical
    await rm(hog)
    await dst.fetch(sha, { signal: AbortSignal.timeout(60_000) })
    expect(await sha256File(join(dst.layout.dataDir, 'mid.bin'))).toBe(sha)
    expect((await api<{ peerId: string }>(dst, '/status')).peerId).toBe(dst.peerId)
  })
})
