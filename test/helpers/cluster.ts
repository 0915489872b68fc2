import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { resolveLayers } from '../../src/config/load.js'
import { MeshsyncNode } from '../../src/node.js'
import { silentLogger, createLogger } from '../../src/util/log.js'

/** Settings that make a test cluster fast: short gossip intervals, no stability wait. */
export const FAST: Record<string, unknown> = {
  'mesh.localCluster': true,
  'gossip.healthIntervalSeconds': 0.3,
  'gossip.suspectAfterSeconds': 1.2,
  'gossip.downAfterSeconds': 2.5,
  'catalog.stableSeconds': 0.2,
  'catalog.scanIntervalSeconds': 1,
  'replication.downGraceSeconds': 5,
  'disk.minFree': 0,
  // every node of a test cluster shares this host's load average, which says nothing about any one node:
  // on a busy CI machine (load per core >= 4) every node would refuse replicas and replication tests stall
  'replication.backpressureLoad': 1000,
}

export interface TestNodeOptions {
  name: string
  dataDir?: string
  bootstrap?: string[]
  settings?: Record<string, unknown>
}

/** Starts a real node on loopback with a temp data dir (or the given one). */
export async function startNode(opts: TestNodeOptions): Promise<MeshsyncNode> {
  const dataDir = opts.dataDir ?? (await mkdtemp(join(tmpdir(), `meshsync-${opts.name}-`)))
  const config = resolveLayers(
    [
      {
        source: 'test',
        values: {
          ...FAST,
          'node.name': opts.name,
          dataDir,
          listen: ['/ip4/127.0.0.1/tcp/0'],
          'api.listen': '127.0.0.1:0',
          bootstrap: opts.bootstrap ?? [],
          ...opts.settings,
        },
      },
    ],
    { cwd: process.cwd() },
  )
  const log = process.env.MESHSYNC_TEST_LOG != null ? createLogger({ level: process.env.MESHSYNC_TEST_LOG as 'debug', name: opts.name }) : silentLogger
  const node = new MeshsyncNode({ config, log })
  await node.start()
  return node
}

export async function startCluster(n: number, settings: Record<string, unknown> = {}, names?: string[]): Promise<MeshsyncNode[]> {
  const first = await startNode({ name: names?.[0] ?? 'n0', settings })
  const nodes = [first]
  const boot = [first.addresses[0]!]
  const rest = await Promise.all(
    Array.from({ length: n - 1 }, (_, i) => startNode({ name: names?.[i + 1] ?? `n${i + 1}`, bootstrap: boot, settings })),
  )
  nodes.push(...rest)
  return nodes
}

export async function stopAll(nodes: (MeshsyncNode | undefined)[], removeData = true): Promise<void> {
  await Promise.all(nodes.map((n) => n?.stop().catch(() => {})))
  if (removeData) await Promise.all(nodes.map((n) => (n != null ? rm(n.layout.dataDir, { recursive: true, force: true }) : undefined)))
}

/** Polls `fn` until it returns a truthy value; fails with `what` after `timeoutMs`. */
export async function waitFor<T>(what: string, fn: () => T | Promise<T>, timeoutMs = 20_000, everyMs = 100): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs
  let last: unknown
  for (;;) {
    try {
      const v = await fn()
      if (v) return v as NonNullable<T>
    } catch (err) {
      last = err
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last != null ? ` (last error: ${(last as Error).message})` : ''}`)
    await new Promise((r) => setTimeout(r, everyMs))
  }
}

export async function api<T>(node: MeshsyncNode, path: string, init?: RequestInit): Promise<T> {
  const res = await fetch(`http://${node.apiAddress}${path}`, init)
  const body = await res.json()
  if (!res.ok) throw Object.assign(new Error(`${path}: ${res.status} ${JSON.stringify(body)}`), { status: res.status, body })
  return body as T
}
