import { mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { loadConfig } from '../../src/config/load.js'
import { policyFor } from '../../src/config/policies.js'
import { ConfigError } from '../../src/util/errors.js'

async function yamlFile(text: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'meshsync-cfg-'))
  const f = join(dir, 'meshsync.yaml')
  await writeFile(f, text)
  return f
}

function refused(fn: () => unknown): ConfigError {
  try {
    fn()
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError)
    return err as ConfigError
  }
  throw new Error('config was accepted')
}

describe('configuration', () => {
  it('runs on embedded defaults with no file at all', () => {
    const c = loadConfig({ env: {} })
    expect(c.api.listen).toBe('127.0.0.1:8420')
    expect(c.node.role).toBe('worker')
    expect(c.resolvedPolicies.every((p) => p.minCopies >= 2)).toBe(true)
    expect(policyFor(c.resolvedPolicies, 'x/y.bin', 'other').minCopies).toBe(2)
    expect(policyFor(c.resolvedPolicies, 'games/a.db', 'sqlite').name).toBe('games')
    expect(policyFor(c.resolvedPolicies, 'ratings/elo.db', 'sqlite').name).toBe('elo')
  })

  it('layers file < environment < flags', async () => {
    const f = await yamlFile('dataDir: data\nnode:\n  name: from-file\ntransfer:\n  maxConcurrent: 2\nbandwidth:\n  upload: 100MB/s\n')
    const c = loadConfig({
      file: f,
      env: { MESHSYNC_TRANSFER__MAX_CONCURRENT: '3', MESHSYNC_NAME: 'from-env', MESHSYNC_LISTEN: '/ip4/127.0.0.1/tcp/1,/ip4/127.0.0.1/tcp/2' },
      flags: { 'node.name': 'from-flag' },
    })
    expect(c.node.name).toBe('from-flag')
    expect(c.transfer.maxConcurrent).toBe(3)
    expect(c.listen).toEqual(['/ip4/127.0.0.1/tcp/1', '/ip4/127.0.0.1/tcp/2'])
    expect(c.bandwidth.upload).toBe(100_000_000)
    // dataDir relative to the file's folder
    expect(c.dataDir).toBe(join(f, '..', 'data'))
  })

  it('rejects unknown keys, naming the key and where it came from', async () => {
    const f = await yamlFile('transfer:\n  maxConcurent: 2\n')
    const e = refused(() => loadConfig({ file: f, env: {} }))
    expect(e.key).toBe('transfer.maxConcurent')
    expect(e.message).toContain(f)
    const e2 = refused(() => loadConfig({ env: { MESHSYNC_TRANSFR__X: '1' } }))
    expect(e2.message).toContain('MESHSYNC_TRANSFR__X')
  })

  it('rejects wrong types naming the key', async () => {
    const e = refused(() => loadConfig({ env: {}, flags: { 'gossip.healthIntervalSeconds': 'often' } }))
    expect(e.key).toBe('gossip.healthIntervalSeconds')
    const e2 = refused(() => loadConfig({ env: {}, flags: { 'bandwidth.upload': 'fast' } }))
    expect(e2.key).toBe('bandwidth.upload')
    expect(e2.message).toContain('"fast"')
    const f = await yamlFile('listen: [not-a-multiaddr]\n')
    expect(refused(() => loadConfig({ file: f, env: {} })).key).toBe('listen.0')
  })

  it('refuses a host that is both excluded and a priority target', async () => {
    const f = await yamlFile(`
cluster:
  hosts:
    coord: { role: coordinator }
    gpu-1: { role: training }
    gpu-2: { role: training }
node: { name: gpu-1 }
policies:
  models:
    match: { kinds: [model] }
    roles: [training]
    priorityHosts: [gpu-2]
    excludeHosts: [gpu-2]
`)
    const e = refused(() => loadConfig({ file: f, env: {} }))
    expect(e.key).toBe('policies.models.excludeHosts')
    expect(e.message).toContain("'gpu-2'")
  })

  it('names the key and the source that made a contradiction, not a key the file set', async () => {
    const f = await yamlFile('disk:\n  pushAt: 0.5\n  urgentAt: 0.7\n  cleanupAt: 0.75\n')
    const e = refused(() => loadConfig({ file: f, env: {}, flags: { 'disk.urgentAt': 0.4 } }))
    expect(e.key).toBe('disk.urgentAt')
    expect(e.message).toBe(`disk.urgentAt: is 0.4 (from command-line flags) but disk.pushAt is 0.5 (from config file ${f}); the disk thresholds must rise: disk.pushAt <= disk.urgentAt <= disk.cleanupAt`)
    const env = refused(() => loadConfig({ file: f, env: { MESHSYNC_DISK__CLEANUP_AT: '0.6' } }))
    expect(env.key).toBe('disk.cleanupAt')
    expect(env.message).toContain('(from environment variable MESHSYNC_DISK__CLEANUP_AT) but disk.urgentAt is 0.7 (from config file')
    // a file that sets only one threshold: the others are defaults, not "from the config file"
    const g = await yamlFile('disk:\n  cleanupAt: 0.6\n')
    expect(refused(() => loadConfig({ file: g, env: {} })).message).toBe(`disk.cleanupAt: is 0.6 (from config file ${g}) but disk.urgentAt is 0.7 (the default); the disk thresholds must rise: disk.pushAt <= disk.urgentAt <= disk.cleanupAt`)
  })

  it('refuses other contradictions', async () => {
    expect(refused(() => loadConfig({ env: {}, flags: { 'disk.pushAt': 0.8, 'disk.urgentAt': 0.7 } })).key).toBe('disk.urgentAt')
    expect(refused(() => loadConfig({ env: {}, flags: { 'policies.x.minCopies': 3, 'policies.x.maxCopies': 2 } })).key).toBe('policies.x.minCopies')
    expect(refused(() => loadConfig({ env: {}, flags: { 'gossip.suspectAfterSeconds': 1, 'gossip.healthIntervalSeconds': 2 } })).key).toBe('gossip.suspectAfterSeconds')
    const f = await yamlFile('cluster:\n  hosts:\n    a: { role: training }\nnode: { name: b }\n')
    expect(refused(() => loadConfig({ file: f, env: {} })).key).toBe('node.name')
    const g = await yamlFile('cluster:\n  hosts:\n    a: { role: training }\nnode: { name: a, role: storage }\n')
    expect(refused(() => loadConfig({ file: g, env: {} })).key).toBe('node.role')
    const h = await yamlFile('cluster:\n  hosts:\n    a: {}\n    c: { role: coordinator }\nnode: { name: a }\npolicies:\n  npz: { roles: [training], priorityHosts: [c] }\n')
    expect(refused(() => loadConfig({ file: h, env: {} })).message).toContain("role 'coordinator'")
  })

  it('takes role and provider from this host’s entry in the host list', async () => {
    const f = await yamlFile('cluster:\n  hosts:\n    spot-3: { role: selfplay, provider: vast, ephemeral: true, tags: [a100] }\nnode: { name: spot-3 }\n')
    const c = loadConfig({ file: f, env: {} })
    expect(c.node).toEqual({ name: 'spot-3', role: 'selfplay', provider: 'vast', ephemeral: true, tags: ['a100'] })
  })

  it('reports bad YAML with its line', async () => {
    const f = await yamlFile('node:\n  name: [unclosed\n')
    expect(refused(() => loadConfig({ file: f, env: {} })).message).toMatch(/not valid YAML/)
  })
})
