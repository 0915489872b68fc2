import { randomBytes } from 'node:crypto'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { MeshsyncNode } from '../../src/node.js'
import { meshsync } from '../api/support.js'
import { startNode, stopAll, waitFor } from '../helpers/cluster.js'

/**
 * Found in the operator trial: with 304 files under their minimum (every
 * receiver busy), `meshsync status` said "304 under their minimum, 756 MiB at
 * risk" while `meshsync doctor` said "ok: ... sees the cluster safe (every file
 * has its copies, ...)". Inside alerts.underMinGraceSeconds such files are not
 * problems yet (exit 0), but doctor must not say they have their copies.
 */
describe('meshsync doctor inside the under-minimum grace', () => {
  let a: MeshsyncNode

  beforeAll(async () => {
    a = await startNode({ name: 'lonely', settings: { 'alerts.underMinGraceSeconds': 3600, 'policies.all.minCopies': 2 } })
  })
  afterAll(() => stopAll([a]))

  it('a file with 1 of 2 copies: exit 0, and the line counts it instead of saying every file has its copies', async () => {
    await writeFile(join(a.layout.dataDir, 'only-here.bin'), randomBytes(5000))
    await a.rescan()
    await waitFor('the planner sees the file under its minimum', () => [...a.planner.plan().values()].some((p) => p.known.facts.path === 'only-here.bin'), 30_000)
    const d = await meshsync(['doctor', '--api', a.apiAddress!])
    expect(d.code, d.stderr).toBe(0)
    expect(d.stdout).not.toMatch(/every file has its copies/)
    expect(d.stdout).toMatch(/^ok: lonely sees the cluster safe for now .*but 1 file\(s\) are still under their minimum copies, for less than alerts\.underMinGraceSeconds \(3600 s\)/)
    const json = JSON.parse((await meshsync(['doctor', '--api', a.apiAddress!, '--json'])).stdout) as { ok: boolean; underMinInGrace: { files: number } }
    expect(json.ok).toBe(true)
    expect(json.underMinInGrace.files).toBe(1)
  }, 60_000)
})
