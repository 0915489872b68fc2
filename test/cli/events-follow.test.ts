import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { freePort } from '../../sim/harness/process-node.js'
import { waitFor } from '../helpers/cluster.js'
import { hasStack, requireBuild, type Spawned, spawnMeshsync } from './support.js'

/**
 * `meshsync events -f` against a real node process that stops: it says the
 * node went away and exits 1 (no `TypeError: terminated` stack), or with
 * --retry waits for the node to come back and goes on after the last event.
 */
describe('meshsync events -f when its node goes away', () => {
  let work: string
  const running: Spawned[] = []

  beforeAll(async () => {
    requireBuild()
    work = await mkdtemp(join(tmpdir(), 'meshsync-events-f-'))
  })
  afterAll(async () => {
    for (const p of running) if (p.child.exitCode == null) p.child.kill('SIGKILL')
    await rm(work, { recursive: true, force: true })
  })

  function startNode(dir: string, api: string): Spawned {
    const p = spawnMeshsync(['start', '--data-dir', dir, '--init', '--api', api, '--listen', '/ip4/127.0.0.1/tcp/0', '--log-level', 'warn', '--set', 'bittorrent.enabled=false'], { timeoutMs: 120_000 })
    running.push(p)
    return p
  }

  async function stopNode(p: Spawned): Promise<void> {
    p.child.kill('SIGINT')
    const r = await p.done
    expect(r.code, r.stderr).toBe(0)
  }

  function nodeStartedIds(stdout: string): number[] {
    return [...stdout.matchAll(/#(\d+) node_started/g)].map((m) => Number(m[1]))
  }

  it('without --retry: one line saying the node went away, exit 1', async () => {
    const api = `127.0.0.1:${await freePort()}`
    const node = startNode(join(work, 'a'), api)
    await waitFor('the node API', () => node.out.stderr.includes('dashboard http://'), 45_000)
    const follow = spawnMeshsync(['events', '-f', '--api', api], { timeoutMs: 60_000 })
    running.push(follow)
    await waitFor('events -f printed node_started', () => nodeStartedIds(follow.out.stdout).length > 0, 30_000)
    await stopNode(node)
    const r = await follow.done
    expect(r.killed, `events -f did not exit after its node stopped; stderr:\n${r.stderr}`).toBe(false)
    expect(r.code).toBe(1)
    expect(hasStack(r.stderr), r.stderr).toBe(false)
    expect(r.stderr).not.toContain('TypeError')
    const lines = r.stderr.trim().split('\n')
    expect(lines).toHaveLength(1)
    expect(lines[0]).toMatch(new RegExp(`^meshsync: the node at http://${api.replace(/\./g, '\\.')} went away \\(its event stream (ended|broke off) after event #\\d+\\); is it stopping\\? follow with --retry to reconnect$`))
  })

  it('with --retry: reconnects when the node is back and prints what came after, without repeating', async () => {
    const api = `127.0.0.1:${await freePort()}`
    const dir = join(work, 'b')
    const first = startNode(dir, api)
    await waitFor('the node API', () => first.out.stderr.includes('dashboard http://'), 45_000)
    const follow = spawnMeshsync(['events', '-f', '--retry', '--api', api], { timeoutMs: 110_000 })
    running.push(follow)
    await waitFor('events -f printed node_started', () => nodeStartedIds(follow.out.stdout).length === 1, 30_000)
    await stopNode(first)
    await waitFor('events -f noted that the node went away', () => follow.out.stderr.includes('went away'), 30_000)
    expect(follow.child.exitCode).toBeNull()

    const second = startNode(dir, api)
    await waitFor('events -f printed the second node_started', () => nodeStartedIds(follow.out.stdout).length === 2, 60_000)
    expect(follow.out.stderr).toContain(`meshsync: reconnected to http://${api}`)
    const ids = [...follow.out.stdout.matchAll(/ #(\d+) /g)].map((m) => Number(m[1]))
    expect(new Set(ids).size, follow.out.stdout).toBe(ids.length)
    expect(hasStack(follow.out.stderr), follow.out.stderr).toBe(false)
    follow.child.kill('SIGINT')
    await follow.done
    await stopNode(second)
  })
})
