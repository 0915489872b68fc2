import { randomBytes } from 'node:crypto'
import { existsSync, readFileSync } from 'node:fs'
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ProcessNode } from '../../sim/harness/process-node.js'
import { layoutOf } from '../../src/node/layout.js'
import { MIGRATIONS } from '../../src/state/migrations.js'
import { FAST } from '../helpers/cluster.js'
import { REPLICATION_FAST, sha256Of } from '../replication/support.js'
import { poll, ROOT, run } from './support.js'

/**
 * Upgrading in place from the previous build: the old build is the tree of an
 * earlier commit (MESHSYNC_TEST_UPGRADE_FROM, else the newest v* tag, else the commit
 * before the release tooling came), compiled with its own sources. When its
 * package-lock.json is this one's, it shares this checkout's node_modules (a
 * few seconds); when not, it gets its own `npm ci` (about a minute from npm's
 * cache; MESHSYNC_TEST_UPGRADE=0 skips the test then). Needs git history (CI
 * clones have it) and dist/ (npm run build).
 */

const SETTINGS: Record<string, unknown> = { ...FAST, ...REPLICATION_FAST }
delete SETTINGS['mesh.localCluster'] // a flag of ProcessNode
const NEW_CLI = join(ROOT, 'dist', 'src', 'cli', 'bin.js')
let work = ''
let oldCli = ''
let oldRev = ''
let skipWhy = ''
const procs: ProcessNode[] = []

const git = (...args: string[]) => run('git', ['-C', ROOT, ...args])

async function previousRevision(): Promise<string> {
  if (process.env.MESHSYNC_TEST_UPGRADE_FROM != null) return process.env.MESHSYNC_TEST_UPGRADE_FROM
  const tag = await git('describe', '--tags', '--abbrev=0', '--match', 'v*', 'HEAD^')
  if (tag.code === 0 && tag.stdout.trim() !== '') return tag.stdout.trim()
  const added = await git('log', '--diff-filter=A', '--format=%H', '--', 'scripts/release/release.mjs')
  const first = added.stdout.trim().split('\n').filter(Boolean).pop()
  return first != null ? `${first}^` : 'HEAD'
}

beforeAll(async () => {
  if (!existsSync(NEW_CLI)) throw new Error('dist/ is missing: run tools/node24 npm run build first')
  work = await mkdtemp(join(tmpdir(), 'meshsync-upgrade-'))
  oldRev = await previousRevision()
  const resolved = await git('rev-parse', '--verify', `${oldRev}^{commit}`)
  if (resolved.code !== 0) {
    skipWhy = `no commit ${oldRev} in this clone (shallow?)`
    return
  }
  const old = join(work, 'old')
  await mkdir(old)
  const x = await run('sh', ['-c', `git -C "${ROOT}" archive ${resolved.stdout.trim()} | tar -x -C "${old}"`])
  if (x.code !== 0) throw new Error(`git archive ${oldRev}: ${x.stderr}`)
  const sameLock = readFileSync(join(old, 'package-lock.json'), 'utf8') === readFileSync(join(ROOT, 'package-lock.json'), 'utf8')
  if (sameLock) await symlink(join(ROOT, 'node_modules'), join(old, 'node_modules'))
  else if (process.env.MESHSYNC_TEST_UPGRADE !== '0') {
    const t0 = Date.now()
    const ci = await run(join(ROOT, 'tools', 'node24'), ['npm', 'ci', '--no-audit', '--no-fund', '--prefer-offline'], { cwd: old, timeoutMs: 600_000 })
    if (ci.code !== 0) throw new Error(`npm ci in ${oldRev}: ${ci.stderr.slice(-2000)}`)
    console.warn(`upgrade test: ${oldRev} has other dependencies; its npm ci took ${Math.round((Date.now() - t0) / 1000)} s (MESHSYNC_TEST_UPGRADE=0 skips it)`)
  } else {
    skipWhy = `${oldRev} has other dependencies and MESHSYNC_TEST_UPGRADE=0`
    return
  }
  const tsc = await run(process.execPath, [join(old, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json'], { cwd: old, timeoutMs: 300_000 })
  if (tsc.code !== 0) throw new Error(`building ${oldRev}: ${tsc.stdout.slice(-2000)}`)
  oldCli = join(old, 'dist', 'src', 'cli', 'bin.js')
}, 900_000)

afterAll(async () => {
  for (const p of procs) p.kill()
  await Promise.all(procs.map((p) => p.exited))
  if (work !== '') await rm(work, { recursive: true, force: true })
})

async function start(name: string, entry: string, dir: string, boot: string[], settings: Record<string, unknown> = {}): Promise<ProcessNode> {
  const logFile = process.env.TEST_NODE_LOGS != null ? join(process.env.TEST_NODE_LOGS, `${name}.log`) : undefined
  const p = await ProcessNode.start({ name, entry, dataDir: dir, bootstrap: boot, settings: { ...SETTINGS, ...settings }, logFile, startTimeoutMs: 60_000 })
  procs.push(p)
  return p
}

interface Status {
  peerId: string
  version: string
  build?: string
  versions?: { mixed: boolean; counts: Record<string, number> }
  manifest: { files: number }
}

const MiB = 1024 * 1024

describe('upgrade from the previous build', () => {
  it('keeps identity, catalog, leases and an in-flight transfer, which resumes; old and new nodes replicate both ways', async (ctx) => {
    if (skipWhy !== '') {
      console.warn(`upgrade test skipped: ${skipWhy}`)
      ctx.skip()
    }
    const dirA = join(work, 'a')
    const dirB = join(work, 'b')
    const dirC = join(work, 'c')
    for (const d of [dirA, dirB, dirC]) await mkdir(d)
    const big = randomBytes(24 * MiB)
    const bigSha = sha256Of(big)
    await writeFile(join(dirA, 'big.bin'), big)
    const own = randomBytes(300_000)
    await writeFile(join(dirB, 'own.bin'), own)
    // no automatic replication, and A serves slowly, so B's pull is still running when B is upgraded
    const manual = { 'replication.intervalSeconds': 3600 }
    const a = await start('old-a', oldCli, dirA, [], { ...manual, 'bandwidth.upload': 2 * MiB })
    let b = await start('old-b', oldCli, dirB, [a.addresses[0]!], manual)
    const bId = b.peerId
    await poll('B to know A holds big.bin, and to catalog its own file', async () => {
      const files = await b.get<{ sha256: string; holderNames: string[] }[]>('/files')
      return files.some((f) => f.sha256 === bigSha) && (await b.get<Status>('/status')).manifest.files === 1
    })
    await b.post('/fetch', { sha256: bigSha })
    await poll('part of big.bin to reach B', async () => {
      const t = await b.get<{ progress?: { chunksDone: number; chunks: number } }>(`/transfer?sha256=${bigSha}`)
      return t.progress != null && t.progress.chunksDone > 0 && t.progress.chunksDone < t.progress.chunks
    })
    await b.stop()

    // what the old build left: its transfer row with verified chunks, and a lease it granted (kept in meta)
    const { db: dbPath } = layoutOf(dirB)
    const db = new Database(dbPath)
    const row = db.prepare('SELECT state, length(have) AS n FROM transfers WHERE sha256 = ?').get(bigSha) as { state: string; n: number } | undefined
    expect(row).toBeDefined()
    const leaseUntil = Date.now() + 3_600_000
    db.prepare('INSERT INTO meta (key, value) VALUES (?, ?)').run(`lease:${sha256Of(own)}`, String(leaseUntil))
    const catalogBefore = db.prepare('SELECT path, sha256 FROM files ORDER BY path').all()
    db.close()

    // upgraded in place: same data dir, the new build
    b = await start('new-b', NEW_CLI, dirB, [a.addresses[0]!], manual)
    expect(b.peerId).toBe(bId)
    const done = await poll(
      'the interrupted transfer to resume and land on the new build',
      async () => (await b.get<{ data?: { resumedChunks?: number } }[]>('/events?type=sync_completed')).find((e) => e != null),
      120_000,
    )
    expect(done.data?.resumedChunks ?? 0).toBeGreaterThan(0)
    expect(readFileSync(join(dirB, 'big.bin')).equals(big)).toBe(true)
    const after = new Database(dbPath, { readonly: true })
    expect(after.pragma('user_version', { simple: true })).toBe(MIGRATIONS.length)
    expect(after.prepare('SELECT value FROM meta WHERE key = ?').pluck().get(`lease:${sha256Of(own)}`)).toBe(String(leaseUntil))
    const catalogAfter = after.prepare('SELECT path, sha256 FROM files ORDER BY path').all() as { path: string }[]
    after.close()
    expect(catalogAfter.filter((f) => f.path !== 'big.bin')).toEqual(catalogBefore)

    // a third node on the new build; files written on the old node and on a new one reach the others
    const c = await start('new-c', NEW_CLI, dirC, [a.addresses[0]!], manual)
    const fromOld = randomBytes(500_000)
    const fromNew = randomBytes(700_000)
    await writeFile(join(dirA, 'from-old.bin'), fromOld)
    await writeFile(join(dirC, 'from-new.bin'), fromNew)
    for (const [node, sha, file, dir] of [
      [c, sha256Of(fromOld), 'from-old.bin', dirC],
      [a, sha256Of(fromNew), 'from-new.bin', dirA],
      [b, sha256Of(fromNew), 'from-new.bin', dirB],
    ] as const) {
      await poll(`${node.name} to hear of ${file}`, async () => (await node.get<{ sha256: string }[]>('/files')).some((f) => f.sha256 === sha))
      await node.post('/fetch', { sha256: sha })
      await poll(`${file} to land on ${node.name}`, async () => existsSync(join(dir, file)) && sha256Of(readFileSync(join(dir, file))) === sha, 60_000)
    }

    // the new nodes see the old one's build in its health and flag the mix
    const s = await poll('B to flag mixed versions', async () => {
      const st = await b.get<Status>('/status')
      return st.versions?.mixed === true ? st : undefined
    })
    expect(Object.keys(s.versions!.counts)).toContain((await a.get<Status>('/status')).version)
    expect(s.versions!.counts[s.build!]).toBe(2)
    const text = await run(join(ROOT, 'bin', 'meshsync'), ['status', '--api', b.api], { env: { ...process.env, MESHSYNC_NODE: process.execPath } })
    expect(text.stdout).toMatch(/^MIXED VERSIONS: .*on 2.*\(an upgrade is half done\)$/m)
  }, 300_000)
})
