import { createHash } from 'node:crypto'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { stringify } from 'yaml'
import type { MeshsyncNode } from '../../src/node.js'
import type { Sink } from '../../src/sinks/index.js'
import { initPathSink, PathSink } from '../../src/sinks/path.js'
import { S3Sink } from '../../src/sinks/s3.js'
import { meshsync, requireBuild } from '../cli/support.js'
import { startNode, stopAll, waitFor } from '../helpers/cluster.js'
import { copyFixture, REPLICATION_FAST, writeRandom } from '../replication/support.js'
import { type LocalS3, S3_ENV, startS3 } from './s3rver.js'

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex')

async function indexedPaths(sink: Sink): Promise<string[]> {
  const out: string[] = []
  for await (const e of sink.listIndex()) out.push(e.path)
  return out.sort()
}

/**
 * Two real nodes back their files up to an S3 bucket and a drive; then every
 * data dir is deleted, and `meshsync restore` (a real process) rebuilds a new
 * node from the bucket alone, byte-identical, through the landing (kind
 * validation, catalog). A node started on the restored dir has them cataloged.
 */
describe('a lost cluster restored from its sinks', () => {
  let s3: LocalS3
  let work: string
  let nodes: MeshsyncNode[] = []
  const expected = new Map<string, string>()

  beforeAll(async () => {
    requireBuild()
    s3 = await startS3()
    Object.assign(process.env, S3_ENV)
    work = await mkdtemp(join(tmpdir(), 'meshsync-restore-'))
    await mkdir(join(work, 'drive'))
    await initPathSink(join(work, 'drive'))
  }, 30_000)

  afterAll(async () => {
    await stopAll(nodes)
    await s3.close()
    await rm(work, { recursive: true, force: true })
  })

  it('backs up every kind once to each sink, then restores a new node byte-identical from the bucket alone', async () => {
    const sinks = { intervalSeconds: 0.5, cloud: s3.sinkConfig({ prefix: 'lost' }), drive: { type: 'path', path: join(work, 'drive') } }
    const settings = { ...REPLICATION_FAST, 'node.role': 'storage', 'replication.backpressureLoad': 1000, sinks, policies: { all: { minCopies: 2, maxCopies: 3, backup: ['cloud', 'drive'], backupCopies: 2 } } }
    const a = await startNode({ name: 'a', settings })
    const b = await startNode({ name: 'b', bootstrap: [a.addresses[0]!], settings })
    nodes = [a, b]
    const put = async (rel: string, s: Promise<string>): Promise<void> => {
      expected.set(rel, await s)
    }
    await put('games/selfplay.db', copyFixture(a, 'sqlite/selfplay_hex8_2p.db', 'games/selfplay.db'))
    await put('npz/hex8.npz', copyFixture(a, 'npz/hex8_2p.npz', 'npz/hex8.npz'))
    await put('models/policy.safetensors', copyFixture(b, 'models/policy_hex8_2p.safetensors', 'models/policy.safetensors'))
    await put('other/empty.bin', writeRandom(b, 'other/empty.bin', 0))
    await put('other/big.bin', writeRandom(b, 'other/big.bin', 3 * 1024 * 1024 + 7))
    const cloud = new S3Sink('cloud', s3.sinkConfig({ prefix: 'lost' }), { env: S3_ENV })
    const drive = new PathSink('drive', join(work, 'drive'))
    const paths = [...expected.keys()].sort()
    await waitFor(
      'both sinks index every file',
      async () => {
        await a.rescan()
        await b.rescan()
        return JSON.stringify(await indexedPaths(cloud)) === JSON.stringify(paths) && JSON.stringify(await indexedPaths(drive)) === JSON.stringify(paths)
      },
      150_000,
    )
    // what the nodes announced is what we wrote
    for (const [rel, s] of expected) expect(a.manifest.get(rel)?.sha256 ?? b.manifest.get(rel)?.sha256).toBe(s)
    // each file was uploaded once per sink, whichever node held it
    const completed = [...a.events.list({ limit: 5000 }), ...b.events.list({ limit: 5000 })].filter((e) => e.type === 'backup_completed')
    expect(new Set(completed.map((e) => `${e.sha256}/${String(e.data?.sink)}`)).size).toBe(completed.length)
    for (const s of ['cloud', 'drive']) expect(completed.filter((e) => e.data?.sink === s).length).toBe(new Set(expected.values()).size)

    // the whole cluster is lost
    await stopAll(nodes)
    nodes = []
    await rm(a.layout.dataDir, { recursive: true, force: true })
    await rm(b.layout.dataDir, { recursive: true, force: true })

    const dataDir = join(work, 'new-node')
    const cfgFile = join(work, 'restore.yaml')
    await writeFile(cfgFile, stringify({ dataDir, node: { name: 'fresh' }, sinks: { cloud: s3.sinkConfig({ prefix: 'lost' }) } }))
    const only = await meshsync(['restore', '-c', cfgFile, '--init', '--from', 'cloud', '--where', 'models/**'], { env: S3_ENV, timeoutMs: 60_000 })
    expect(only.stderr).toBe('')
    expect(only.stdout).toMatch(/1 restored, 0 already here, 0 failed/)
    const run = await meshsync(['restore', '-c', cfgFile, '--from', 'cloud'], { env: S3_ENV, timeoutMs: 60_000 })
    expect(run.stderr).toBe('')
    expect(run.code).toBe(0)
    expect(run.stdout).toMatch(new RegExp(`${expected.size - 1} restored, 1 already here, 0 failed`))
    for (const [rel, s] of expected) expect(sha(await readFile(join(dataDir, rel)))).toBe(s)

    // a node started on it has them in its catalog at once
    const fresh = await startNode({ name: 'fresh', dataDir, settings: { ...REPLICATION_FAST } })
    nodes = [fresh]
    for (const [rel, s] of expected) expect(fresh.manifest.get(rel)?.sha256).toBe(s)
    expect(fresh.events.list({ limit: 5000 }).filter((e) => e.type === 'restore_completed').length).toBe(expected.size)
  }, 300_000)
})
