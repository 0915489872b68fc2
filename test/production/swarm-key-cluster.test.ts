import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { stringify } from 'yaml'
import { freePort } from '../../sim/harness/process-node.js'
import { meshsync, sha256File, UnitNode, writeRandomFile } from './unit-node.js'

/**
 * The production configuration of bootstrap/NEW_HOST.md, four hosts on one
 * machine: one cluster.yaml for all (swarm key, peer allowlist, the bootstrap
 * host's address), an EnvironmentFile per host, identities made with
 * `meshsync id`, each node started as the systemd unit starts it. 300 MiB
 * files move several at once both ways; one sender is killed with SIGKILL
 * mid-transfer and restarted (systemd's Restart=always). Every node must stay
 * up and every file must land, verified by SHA-256 on disk.
 *
 * With @libp2p/pnet's WebAssembly cipher a node died here with
 * `RangeError: WebAssembly.Memory.grow(): Maximum memory size exceeded`.
 */

const MiB = 1024 * 1024
const SIZE = Number(process.env.MESHSYNC_TEST_PROD_MIB ?? 300) * MiB
const HOSTS = { 'store-1': 'storage', 'train-1': 'training', 'train-2': 'training', 'store-2': 'storage' } as const
type Host = keyof typeof HOSTS
/** Which host starts with which files. */
const FILES: Record<string, Host> = { 'data/t1-a.dat': 'train-1', 'data/t1-b.dat': 'train-1', 'data/s1-a.dat': 'store-1', 'data/s1-b.dat': 'store-1' }

let root = ''
const nodes = new Map<Host, UnitNode>()

afterAll(async () => {
  await Promise.all([...nodes.values()].map((n) => n.stop()))
  if (root !== '' && process.env.MESHSYNC_TEST_KEEP == null) await rm(root, { recursive: true, force: true })
})

function clusterYaml(swarmKey: string, bootstrap?: string, allowPeers: string[] = []): string {
  const hosts = Object.fromEntries(
    Object.entries(HOSTS).map(([name, role]) => [name, { role, provider: 'hetzner', ...(name === 'store-1' && bootstrap != null ? { bootstrap } : {}) }]),
  )
  return stringify({
    cluster: { hosts },
    swarmKey,
    allowPeers,
    // four hosts on one machine share one IP: without this gossipsub's IP-colocation penalty
    // and libp2p's per-address inbound limits treat them as one attacker
    mesh: { localCluster: true },
    disk: { minFree: 0 },
    // four nodes and the rest of the test suite on one machine: the load average is theirs, not a real host's
    replication: { backpressureLoad: 1000 },
    policies: { default: { minCopies: 2, maxCopies: 2 } },
  })
}

/** Polls `fn`; fails at once when a node is down that nobody stopped. */
async function waitUntil(what: string, fn: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const exits = [...nodes.values()].flatMap((n) => n.unexpectedExits)
    if (exits.length > 0) throw new Error(`while waiting for ${what}: ${exits.join('; ')}`)
    if (await fn().catch(() => false)) return
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 500))
  }
}

interface TransferJson {
  sha256: string
  state: string
  progress?: { bytes: number; total: number }
}

describe('production configuration: swarm key + allowlist, systemd-style start, 300 MiB files, kill -9 of a sender', () => {
  it('every node stays up and every file lands verified', async () => {
    root = await mkdtemp(join(tmpdir(), 'meshsync-prod-'))
    const etc = join(root, 'etc', 'meshsync')
    await mkdir(etc, { recursive: true })
    const swarmKey = join(etc, 'swarm.key')
    const config = join(etc, 'cluster.yaml')
    await meshsync(['swarm-key', swarmKey])
    await writeFile(config, clusterYaml(swarmKey))

    const envs = new Map<Host, Record<string, string>>()
    const peerIds = new Map<Host, string>()
    for (const name of Object.keys(HOSTS) as Host[]) {
      const dataDir = join(root, 'var', name)
      await mkdir(dataDir, { recursive: true })
      const env = {
        MESHSYNC_NAME: name,
        MESHSYNC_DATA_DIR: dataDir,
        MESHSYNC_LISTEN: `/ip4/127.0.0.1/tcp/${await freePort()}`,
        MESHSYNC_API_LISTEN: `127.0.0.1:${await freePort()}`,
      }
      envs.set(name, env)
      const envFile = join(etc, `${name}.env`)
      await writeFile(envFile, `${Object.entries(env).map(([k, v]) => `${k}=${v}`).join('\n')}\n`)
      peerIds.set(name, (await meshsync(['id', '-c', config], env)).trim())
      nodes.set(name, new UnitNode(name, config, envFile, join(root, `${name}.log`)))
    }
    const boot = `${envs.get('store-1')!.MESHSYNC_LISTEN}/p2p/${peerIds.get('store-1')}`
    await writeFile(config, clusterYaml(swarmKey, boot, [...peerIds.values()]))

    const shas = new Map<string, string>()
    for (const [rel, host] of Object.entries(FILES)) {
      await mkdir(join(envs.get(host)!.MESHSYNC_DATA_DIR!, 'data'), { recursive: true })
      shas.set(rel, await writeRandomFile(join(envs.get(host)!.MESHSYNC_DATA_DIR!, rel), SIZE))
    }

    for (const n of nodes.values()) await n.start()
    const all = [...nodes.values()]

    // wait until a receiver is well into a file that train-1 sends, then kill -9 train-1 and restart it
    const fromTrain1 = new Set(Object.entries(FILES).filter(([, h]) => h === 'train-1').map(([rel]) => shas.get(rel)!))
    await waitUntil(
      'a transfer from train-1 to be under way',
      async () => {
        for (const n of all) {
          if (n.name === 'train-1') continue
          const ts = await n.get<TransferJson[]>('/transfers')
          if (ts.some((t) => fromTrain1.has(t.sha256) && (t.progress?.bytes ?? 0) >= SIZE / 8 && (t.progress?.bytes ?? 0) < SIZE)) return true
        }
        return false
      },
      120_000,
    )
    const sender = nodes.get('train-1')!
    await sender.kill()
    await new Promise((r) => setTimeout(r, 2000))
    await sender.start()

    // every file on two nodes with the right bytes
    const holders = async (rel: string): Promise<string[]> => {
      const out: string[] = []
      for (const [name, env] of envs) if ((await sha256File(join(env.MESHSYNC_DATA_DIR!, rel))) === shas.get(rel)) out.push(name)
      return out
    }
    await waitUntil(
      'every file to have 2 verified copies',
      async () => {
        // cheap first: no transfer left anywhere, then hash from disk
        for (const n of all) if ((await n.get<TransferJson[]>('/transfers')).length > 0) return false
        for (const rel of Object.keys(FILES)) if ((await holders(rel)).length < 2) return false
        return true
      },
      240_000,
    )

    for (const n of all) {
      expect(n.unexpectedExits, n.name).toEqual([])
      expect(n.running, n.name).toBe(true)
    }
    // nothing under a final name with other bytes, anywhere
    for (const [name, env] of envs) {
      for (const rel of Object.keys(FILES)) {
        const sha = await sha256File(join(env.MESHSYNC_DATA_DIR!, rel))
        if (sha != null) expect(sha, `${name}:${rel}`).toBe(shas.get(rel))
      }
    }
    // the allowlist holds: each node sees exactly the three others
    for (const n of all) {
      const peers = await n.get<{ peerId: string }[]>('/peers')
      for (const p of peers) expect([...peerIds.values()]).toContain(p.peerId)
    }
  }, 420_000)
})
