import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import type { Server } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { resolveLayers } from '../../src/config/load.js'
import { MeshsyncNode } from '../../src/node.js'
import { silentLogger } from '../../src/util/log.js'
import { StartupError } from '../../src/util/startup-error.js'
import { waitFor } from '../helpers/cluster.js'
import { hasStack, meshsync, occupiedPort, requireBuild, spawnMeshsync } from './support.js'

/**
 * Start-up failures of the real bin/meshsync: each exits non-zero by itself
 * (nothing left running) with one line that names the address or folder and
 * the key that sets it, and no stack trace.
 */
describe('meshsync start: start-up failures', () => {
  let work: string
  let busy: { port: number; server: Server }
  const LOOPBACK = ['--listen', '/ip4/127.0.0.1/tcp/0', '--log-level', 'warn', '--set', 'bittorrent.enabled=false']

  beforeAll(async () => {
    requireBuild()
    work = await mkdtemp(join(tmpdir(), 'meshsync-startup-'))
    busy = await occupiedPort()
  })
  afterAll(async () => {
    busy.server.close()
    await rm(work, { recursive: true, force: true })
  })

  /** Exited by itself, non-zero, with exactly one line on stderr. */
  function oneLineFailure(r: { code: number | null; killed: boolean; stderr: string }): string {
    expect(r.killed, `still running at the timeout; stderr:\n${r.stderr}`).toBe(false)
    expect(r.code).not.toBe(0)
    expect(hasStack(r.stderr), r.stderr).toBe(false)
    const lines = r.stderr.trim().split('\n')
    expect(lines, r.stderr).toHaveLength(1)
    return lines[0]!
  }

  it('--api address in use: stops what it started and exits 1 with one line naming api.listen', async () => {
    const dir = join(work, 'api-busy')
    const r = await meshsync(['start', '--data-dir', dir, '--init', '--api', `127.0.0.1:${busy.port}`, ...LOOPBACK], { timeoutMs: 45_000 })
    expect(oneLineFailure(r)).toBe(`meshsync: api.listen 127.0.0.1:${busy.port} is in use (another meshsync node?) (from command-line flags); set api.listen or --api HOST:PORT`)
    expect(r.code).toBe(1)
  })

  it('api.listen in use from the environment: says so', async () => {
    const dir = join(work, 'api-busy-env')
    const r = await meshsync(['start', '--data-dir', dir, '--init', ...LOOPBACK], { env: { MESHSYNC_API_LISTEN: `127.0.0.1:${busy.port}` }, timeoutMs: 45_000 })
    expect(oneLineFailure(r)).toContain(`api.listen 127.0.0.1:${busy.port} is in use (another meshsync node?) (from environment variable MESHSYNC_API_LISTEN)`)
  })

  it('libp2p listen port in use: names the address and the listen key, not libp2p internals', async () => {
    const dir = join(work, 'listen-busy')
    const r = await meshsync(['start', '--data-dir', dir, '--init', '--api', '127.0.0.1:0', '--listen', `/ip4/127.0.0.1/tcp/${busy.port}`, '--log-level', 'warn'], { timeoutMs: 45_000 })
    const line = oneLineFailure(r)
    expect(line).toBe(`meshsync: listen /ip4/127.0.0.1/tcp/${busy.port} is in use (from command-line flags); set listen or --listen (port 0 picks a free one)`)
    expect(line).not.toContain('faultTolerance')
  })

  it('a data dir that does not exist is refused without --init, and nothing is created', async () => {
    const dir = join(work, 'typo', 'data')
    const r = await meshsync(['start', '--data-dir', dir, '--api', '127.0.0.1:0', ...LOOPBACK], { timeoutMs: 45_000 })
    expect(oneLineFailure(r)).toBe(
      `meshsync: data dir ${dir} does not exist (from command-line flags); a new data dir is a new peer: create it with 'meshsync init ${dir}' or start with --init, or fix dataDir`,
    )
    expect(existsSync(dir)).toBe(false)
    // named in the environment or a config file: the same
    const env = await meshsync(['start', '--api', '127.0.0.1:0', ...LOOPBACK], { env: { MESHSYNC_DATA_DIR: dir }, timeoutMs: 45_000 })
    expect(oneLineFailure(env)).toContain(`data dir ${dir} does not exist (from environment variable MESHSYNC_DATA_DIR)`)
    const cfg = join(work, 'typo.yaml')
    await writeFile(cfg, `dataDir: ${dir}\n`)
    const file = await meshsync(['start', '-c', cfg, '--api', '127.0.0.1:0', ...LOOPBACK], { timeoutMs: 45_000 })
    expect(oneLineFailure(file)).toContain(`data dir ${dir} does not exist (from config file ${cfg})`)
    expect(existsSync(dir)).toBe(false)
  })

  it('a data dir that is a file is refused in one line', async () => {
    const file = join(work, 'not-a-dir')
    await writeFile(file, 'x')
    const r = await meshsync(['start', '--data-dir', file, '--init', '--api', '127.0.0.1:0', ...LOOPBACK], { timeoutMs: 45_000 })
    expect(oneLineFailure(r)).toBe(`meshsync: data dir ${file} is a file, not a folder (from command-line flags); set dataDir or --data-dir`)
    const under = await meshsync(['start', '--data-dir', join(file, 'sub'), '--init', '--api', '127.0.0.1:0', ...LOOPBACK], { timeoutMs: 45_000 })
    expect(oneLineFailure(under)).toContain(`data dir ${join(file, 'sub')} is under a file, not a folder`)
  })

  it('a swarm key that is missing or not a key: one line naming swarmKey', async () => {
    const dir = join(work, 'swarm')
    const missing = join(work, 'no-such.key')
    const r = await meshsync(['start', '--data-dir', dir, '--init', '--swarm-key', missing, '--api', '127.0.0.1:0', ...LOOPBACK], { timeoutMs: 45_000 })
    expect(oneLineFailure(r)).toMatch(new RegExp(`^meshsync: swarm key ${missing}: ENOENT.* \\(from command-line flags\\); set swarmKey or --swarm-key$`))
    const bad = join(work, 'bad.key')
    await writeFile(bad, 'not a key\n')
    const b = await meshsync(['start', '--data-dir', dir, '--swarm-key', bad, '--api', '127.0.0.1:0', ...LOOPBACK], { timeoutMs: 45_000 })
    expect(oneLineFailure(b)).toContain(`meshsync: swarm key ${bad}: first line must be`)
  })

  it('meshsync init DIR creates the data dir and its identity once; start then runs on it', async () => {
    const dir = join(work, 'inited')
    const first = await meshsync(['init', dir])
    expect(first, first.stderr).toMatchObject({ code: 0 })
    const peerId = first.stdout.trim()
    expect(peerId).toMatch(/^12D3Koo/)
    expect(first.stderr).toContain(`initialised ${dir} with a new identity`)
    const again = await meshsync(['init', dir, '--json'])
    expect(again.code).toBe(0)
    expect(JSON.parse(again.stdout)).toMatchObject({ peerId, dataDir: dir, created: false })

    const node = spawnMeshsync(['start', '--data-dir', dir, '--api', '127.0.0.1:0', ...LOOPBACK], { timeoutMs: 60_000 })
    await waitFor('the node started on the initialised dir', () => node.out.stderr.includes(peerId), 45_000)
    node.child.kill('SIGINT')
    const r = await node.done
    expect(r.code, r.stderr).toBe(0)
  })

  it('start --init creates a missing data dir; start with no data dir at all still creates ./meshsync-data', async () => {
    const dir = join(work, 'with-init')
    const a = spawnMeshsync(['start', '--data-dir', dir, '--init', '--api', '127.0.0.1:0', ...LOOPBACK], { timeoutMs: 60_000 })
    await waitFor('--init made the identity', () => existsSync(join(dir, '.meshsync', 'identity.key')) && a.out.stderr.includes('dashboard http://'), 45_000)
    a.child.kill('SIGINT')
    expect((await a.done).code).toBe(0)

    const cwd = join(work, 'quick-start')
    await mkdir(cwd)
    const b = spawnMeshsync(['start', '--api', '127.0.0.1:0', ...LOOPBACK], { cwd, timeoutMs: 60_000 })
    await waitFor('./meshsync-data made on a plain start', () => existsSync(join(cwd, 'meshsync-data', '.meshsync', 'identity.key')) && b.out.stderr.includes('dashboard http://'), 45_000)
    b.child.kill('SIGINT')
    expect((await b.done).code).toBe(0)
    expect((await readFile(join(cwd, 'meshsync-data', '.meshsync', 'identity.key'))).length).toBeGreaterThan(0)
  })

  it('a contradiction from --set names the key and the flags, not the config file', async () => {
    const cfg = join(work, 'thresholds.yaml')
    await writeFile(cfg, 'disk:\n  pushAt: 0.5\n  urgentAt: 0.7\n  cleanupAt: 0.75\n')
    const r = await meshsync(['config', '-c', cfg, '--set', 'disk.urgentAt=0.4'])
    expect(r.code).toBe(2)
    expect(oneLineFailure({ ...r, killed: false })).toBe(
      `meshsync: configuration error: disk.urgentAt: is 0.4 (from command-line flags) but disk.pushAt is 0.5 (from config file ${cfg}); the disk thresholds must rise: disk.pushAt <= disk.urgentAt <= disk.cleanupAt`,
    )
  })
})

describe('MeshsyncNode.start that fails', () => {
  it('stops libp2p and closes the database it had opened before the API address failed', async () => {
    const busy = await occupiedPort()
    const dataDir = await mkdtemp(join(tmpdir(), 'meshsync-failed-start-'))
    const config = resolveLayers(
      [{ source: 'test', values: { dataDir, listen: ['/ip4/127.0.0.1/tcp/0'], 'api.listen': `127.0.0.1:${busy.port}`, 'bittorrent.enabled': false } }],
      { cwd: process.cwd() },
    )
    const node = new MeshsyncNode({ config, log: silentLogger })
    try {
      const err = await node.start().then(
        () => undefined,
        (e: unknown) => e,
      )
      expect(err).toBeInstanceOf(StartupError)
      expect((err as StartupError).key).toBe('api.listen')
      expect(node.mesh.status).toBe('stopped')
      expect(node.db.open).toBe(false)
    } finally {
      busy.server.close()
      await node.stop().catch(() => {})
      await rm(dataDir, { recursive: true, force: true })
    }
  })
})
