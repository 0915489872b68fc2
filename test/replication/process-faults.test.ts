import { randomBytes } from 'node:crypto'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import Database from 'better-sqlite3'
import { afterEach, describe, expect, it } from 'vitest'
import { ProcessNode } from '../../sim/harness/process-node.js'
import { FAST, waitFor } from '../helpers/cluster.js'
import { REPLICATION_FAST, sha256Of } from './support.js'

/**
 * Replication under real process faults: each node is its own OS process
 * (the compiled CLI, `npm run build` first), killed with SIGKILL or sent
 * SIGTERM as a spot host would be.
 */

const MiB = 1024 * 1024
const SETTINGS = { ...FAST, ...REPLICATION_FAST }
delete (SETTINGS as Record<string, unknown>)['mesh.localCluster'] // --local-cluster is a flag of ProcessNode

interface Proc {
  node: ProcessNode
  dir: string
}

interface EventJson {
  type: string
  timeMs: number
  sha256?: string
  path?: string
  data?: Record<string, unknown>
}

let procs: Proc[] = []
const dirs: string[] = []

afterEach(async () => {
  for (const p of procs) p.node.kill()
  await Promise.all(procs.map((p) => p.node.exited))
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })))
  procs = []
  dirs.length = 0
})

async function put(dir: string, rel: string, buf: Buffer): Promise<string> {
  await mkdir(dirname(join(dir, rel)), { recursive: true })
  await writeFile(join(dir, rel), buf)
  return sha256Of(buf)
}

async function newDir(name: string): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), `meshsync-proc-${name}-`))
  dirs.push(d)
  return d
}

async function start(name: string, dir: string, boot: string[], settings: Record<string, unknown> = {}): Promise<Proc> {
  const node = await ProcessNode.start({ name, dataDir: dir, bootstrap: boot, settings: { ...SETTINGS, ...settings }, logFile: process.env.TEST_NODE_LOGS != null ? join(process.env.TEST_NODE_LOGS, `${name}.log`) : undefined })
  const p = { node, dir }
  procs.push(p)
  return p
}

/** Which of these nodes hold the content on disk, by name (re-hashed). */
async function onDisk(list: Proc[], rel: string, sha: string): Promise<string[]> {
  const out: string[] = []
  for (const p of list) {
    const buf = await readFile(join(p.dir, rel)).catch(() => undefined)
    if (buf != null && sha256Of(buf) === sha) out.push(p.node.name)
  }
  return out.sort()
}

const events = (p: Proc, type: string): Promise<EventJson[]> => p.node.get<EventJson[]>(`/events?type=${type}&limit=5000`)

describe('replication with real processes', () => {
  it('kill -9 of a holder: re-replicated after the grace period; when it comes back nothing is copied twice', async () => {
    const dirA = await newDir('a')
    const rel = 'data/run-7.dat'
    const sha = await put(dirA, rel, randomBytes(5 * MiB + 3))
    const a = await start('a', dirA, [])
    const boot = [a.node.addresses[0]!]
    const others = await Promise.all(['b', 'c', 'd'].map(async (n) => start(n, await newDir(n), boot)))
    const all = [a, ...others]
    await waitFor('2 copies', async () => (await onDisk(all, rel, sha)).length >= 2, 60_000)
    await new Promise((r) => setTimeout(r, 1000))
    // every holder but the origin is killed (on a loaded machine a third copy may have been made: it goes too)
    const before = await onDisk(all, rel, sha)
    const victims = all.filter((p) => p.node.name !== 'a' && before.includes(p.node.name))
    for (const v of victims) v.node.kill()
    await Promise.all(victims.map((v) => v.node.exited))
    const killedAt = Date.now()
    const live = all.filter((p) => !victims.includes(p))
    const after = await waitFor('a new second copy on a live node', async () => {
      const h = await onDisk(live, rel, sha)
      return h.length >= 2 ? h : undefined
    }, 60_000)
    // down after 2.5 s of silence, then a 4 s grace period
    expect(Date.now() - killedAt).toBeGreaterThan(5000)
    for (const v of victims) expect(after).not.toContain(v.node.name)

    // the victims come back with their data: counted again, nothing re-fetched
    procs = procs.filter((p) => !victims.includes(p))
    const back = await Promise.all(victims.map((v) => start(v.node.name, v.dir, boot)))
    // counted again: at least 3 copies (more than the maximum of 3 may be trimmed back, under the deletion rule)
    const expected = Math.min(3, after.length + back.length)
    const since = Date.now()
    await waitFor(`everyone counts at least ${expected} copies`, async () => {
      for (const p of [...live, ...back]) {
        const files = await p.node.get<{ sha256: string; verifiedCopies: number }[]>('/files')
        if ((files.find((f) => f.sha256 === sha)?.verifiedCopies ?? 0) < expected) return false
      }
      return true
    }, 30_000)
    await new Promise((r) => setTimeout(r, 2000))
    for (const p of [...live, ...back]) {
      const started = (await events(p, 'sync_started')).filter((e) => e.sha256 === sha && e.timeMs >= since)
      expect(started, `${p.node.name} fetched it again`).toEqual([])
    }
    expect((await onDisk([...live, ...back], rel, sha)).length).toBeGreaterThanOrEqual(expected)
  }, 150_000)

  it('SIGTERM evacuation: the rarest files leave first, and the node exits once its files are safe', async () => {
    // e holds solo files (policy minimum 1: e's copy is their only one) and data files also held by x (minimum 2);
    // x stays but serves slowly and never takes solo files, so what leaves e is what counts
    const policies = {
      solo: { match: { globs: ['solo/**'] }, minCopies: 1, maxCopies: 3, excludeHosts: ['x'] },
      data: { minCopies: 2, maxCopies: 3 },
    }
    const dirE = await newDir('e')
    const dirX = await newDir('x')
    const rare: [string, string][] = []
    const common: [string, string][] = []
    for (let i = 0; i < 2; i++) {
      const rel = `solo/r${i}.dat`
      rare.push([rel, await put(dirE, rel, randomBytes(3 * MiB))])
    }
    for (let i = 0; i < 2; i++) {
      const rel = `data/c${i}.dat`
      const buf = randomBytes(3 * MiB)
      await put(dirX, rel, buf)
      common.push([rel, await put(dirE, rel, buf)])
    }
    const e = await start('e', dirE, [], { policies, 'bandwidth.upload': '6MB', 'transfer.maxServing': 1, 'replication.evacuationDeadlineSeconds': 60 })
    const boot = [e.node.addresses[0]!]
    const x = await start('x', dirX, boot, { policies, 'bandwidth.upload': '100KB' })
    const receivers = await Promise.all(['a', 'b'].map(async (n) => start(n, await newDir(n), boot, { policies })))
    await waitFor('everyone sees 4 files with enough copies', async () => {
      for (const p of [e, x, ...receivers]) {
        const files = await p.node.get<{ path: string; verifiedCopies: number; minCopies: number }[]>('/files')
        if (files.length !== 4 || files.some((f) => f.verifiedCopies < f.minCopies)) return false
      }
      return true
    }, 60_000)
    await new Promise((r) => setTimeout(r, 1500))
    for (const p of receivers) expect((await events(p, 'sync_started')).map((e) => `${p.node.name} ${e.path} ${JSON.stringify(e.data)}`)).toEqual([])

    // the spot termination notice
    const exit = e.node.terminate()
    const landed = await waitFor('all 4 files on a or b', async () => {
      const list: { path: string; timeMs: number }[] = []
      for (const p of receivers) for (const ev of await events(p, 'sync_completed')) list.push({ path: String(ev.path ?? ev.data?.path), timeMs: ev.timeMs })
      const paths = new Set(list.map((l) => l.path))
      return [...rare, ...common].every(([rel]) => paths.has(rel)) ? list : undefined
    }, 90_000)
    expect(await exit).toBe(0)
    landed.sort((p, q) => p.timeMs - q.timeMs)
    const order = landed.map((l) => l.path)
    // e serves one file at a time: a common file can at most be the first one admitted, every other
    // request waits in e's queue, where the rare files go first
    expect(order.at(-1), `landing order ${order.join(' ')}`).toMatch(/^data\//)
    for (const [rel, sha] of [...rare, ...common]) expect((await onDisk(receivers, rel, sha)).length).toBeGreaterThanOrEqual(1)

    const db = new Database(join(dirE, '.meshsync', 'state.db'), { readonly: true })
    try {
      const rows = db.prepare(`SELECT type, data FROM events WHERE type IN ('evacuation_started', 'evacuation_finished') ORDER BY id`).all() as { type: string; data: string }[]
      expect(rows.map((r) => r.type)).toEqual(['evacuation_started', 'evacuation_finished'])
      expect(JSON.parse(rows[1]!.data).leftCount).toBe(0)
    } finally {
      db.close()
    }
  }, 180_000)
})
