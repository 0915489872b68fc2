import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { resolveLayers } from '../../src/config/load.js'
import { MeshsyncNode } from '../../src/node.js'
import { LOCK_FILE_NAME } from '../../src/node/data-dir-lock.js'
import { silentLogger } from '../../src/util/log.js'
import { StartupError } from '../../src/util/startup-error.js'
import { hasStack, meshsync, requireBuild, spawnMeshsync } from '../cli/support.js'
import { waitFor } from '../helpers/cluster.js'

/**
 * Found in the operator trial: a second `meshsync start` on a data dir a node
 * was already running on (same config, other ports) started, with the same
 * identity and state database; its SIGTERM then evacuated the first node's
 * files under the shared peer ID. One node per data dir now.
 */
describe('one node per data dir', () => {
  let work: string
  const LOOPBACK = ['--listen', '/ip4/127.0.0.1/tcp/0', '--api', '127.0.0.1:0', '--log-level', 'warn', '--set', 'bittorrent.enabled=false']

  beforeAll(async () => {
    requireBuild()
    work = await mkdtemp(join(tmpdir(), 'meshsync-dirlock-'))
  })
  afterAll(async () => {
    await rm(work, { recursive: true, force: true })
  })

  it('a second bin/meshsync start on a running node’s data dir exits 1 in one line naming the dir and the pid; after kill -9 of the first, a start takes the lock over', async () => {
    const dir = join(work, 'data')
    const a = spawnMeshsync(['start', '--data-dir', dir, '--init', ...LOOPBACK], { timeoutMs: 90_000 })
    await waitFor('the first node started', () => /http:\/\/127\.0\.0\.1:\d+\//.test(a.out.stderr + a.out.stdout), 60_000)
    expect(existsSync(join(dir, '.meshsync', LOCK_FILE_NAME))).toBe(true)

    const b = await meshsync(['start', '--data-dir', dir, ...LOOPBACK], { timeoutMs: 60_000 })
    expect(b.killed, `the second node kept running:\n${b.stderr}`).toBe(false)
    expect(b.code).toBe(1)
    expect(hasStack(b.stderr), b.stderr).toBe(false)
    const lines = b.stderr.trim().split('\n')
    expect(lines, b.stderr).toHaveLength(1)
    expect(lines[0]).toContain(`data dir ${dir} is in use by another meshsync node (pid ${a.child.pid} `)
    expect(a.child.exitCode).toBe(null) // the first one is untouched

    a.child.kill('SIGKILL')
    await a.done
    // the lock file is still there, naming a dead process: stale, taken over
    expect(existsSync(join(dir, '.meshsync', LOCK_FILE_NAME))).toBe(true)
    const c = spawnMeshsync(['start', '--data-dir', dir, ...LOOPBACK], { timeoutMs: 90_000 })
    await waitFor('a node started after the kill -9', () => /http:\/\/127\.0\.0\.1:\d+\//.test(c.out.stderr + c.out.stdout) || c.child.exitCode != null, 60_000)
    expect(c.child.exitCode, c.out.stderr).toBe(null)
    c.child.kill('SIGINT')
    expect((await c.done).code).toBe(0)
    expect(existsSync(join(dir, '.meshsync', LOCK_FILE_NAME))).toBe(false) // a clean stop removes it
  }, 240_000)

  it('a lock file naming a pid that now belongs to another process (pid reuse) or torn is stale', async () => {
    const dir = join(work, 'reused')
    const config = resolveLayers([{ source: 'test', values: { dataDir: dir, listen: ['/ip4/127.0.0.1/tcp/0'], 'api.listen': '127.0.0.1:0', 'bittorrent.enabled': false } }], {
      cwd: process.cwd(),
    })
    // a live process that is not the one that wrote the record: its start time differs
    const sleeper = spawn('sleep', ['60'], { stdio: 'ignore' })
    try {
      const first = new MeshsyncNode({ config, log: silentLogger })
      await first.start()
      await first.stop()
      const lock = join(dir, '.meshsync', LOCK_FILE_NAME)
      await writeFile(lock, `${JSON.stringify({ pid: sleeper.pid, host: 'h', bootId: '', procStart: '1', startedAt: '2026-01-01T00:00:00Z' })}\n`)
      const second = new MeshsyncNode({ config, log: silentLogger })
      await second.start()
      await second.stop()
      await writeFile(lock, '{"pid": 12')
      const third = new MeshsyncNode({ config, log: silentLogger })
      await third.start()
      await third.stop()
    } finally {
      sleeper.kill('SIGKILL')
    }
  }, 120_000)

  it('two MeshsyncNodes of one process on one data dir: the second start is refused with a StartupError; after the first stops, a new one starts', async () => {
    const dir = join(work, 'in-process')
    const config = resolveLayers([{ source: 'test', values: { dataDir: dir, listen: ['/ip4/127.0.0.1/tcp/0'], 'api.listen': '127.0.0.1:0', 'bittorrent.enabled': false } }], {
      cwd: process.cwd(),
    })
    const first = new MeshsyncNode({ config, log: silentLogger })
    await first.start()
    try {
      const second = new MeshsyncNode({ config, log: silentLogger })
      const err = await second.start().then(
        () => undefined,
        (e: unknown) => e,
      )
      expect(err).toBeInstanceOf(StartupError)
      expect((err as StartupError).message).toContain(`data dir ${dir} is in use by another meshsync node (pid ${process.pid} `)
      expect((err as StartupError).key).toBe('dataDir')
    } finally {
      await first.stop()
    }
    const third = new MeshsyncNode({ config, log: silentLogger })
    await third.start()
    await third.stop()
  }, 120_000)
})
