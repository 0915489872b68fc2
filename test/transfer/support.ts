import { execFile } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync } from 'node:fs'
import { copyFile, mkdir, readdir, readFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { sseEvents } from '../../src/cli/follow-events.js'
import type { MeshsyncEvent } from '../../src/state/event-log.js'

/** Helpers shared by the transfer tests (real nodes, real files). */

const REPO = join(import.meta.dirname, '..', '..')

export { FIXTURES, type FixtureRow, fixtureRows } from '../helpers/fixtures.js'
import { FIXTURES } from '../helpers/fixtures.js'

/** The compiled CLI and the bash entry that runs it (tests that spawn it need `npm run build` first). */
export const CLI_JS = join(REPO, 'dist', 'src', 'cli', 'bin.js')
export const BIN = join(REPO, 'bin', 'meshsync')

export interface Run {
  code: number
  stdout: string
  stderr: string
}

/** The compiled CLI (bin/meshsync; build first) with this Node (24, from tools/node24), `env` added to the runner's environment. */
export function meshsync(args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(BIN, args, { env: { ...process.env, MESHSYNC_NODE: process.execPath, ...env }, timeout: 60_000 }, (err, stdout, stderr) => {
      const code = err == null ? 0 : typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code as number) : -1
      resolve({ code, stdout, stderr })
    })
  })
}

/**
 * Replication off for these tests: a catch-all policy that wants one copy,
 * so no node pulls anything on its own and every transfer is the test's.
 */
export const NO_REPLICATION: Record<string, unknown> = {
  'policies.solo.minCopies': 1,
  'policies.solo.maxCopies': 1,
}

/** Words the quarantine reason of each invalid fixture must contain (from the validators' messages). */
export const REASON_WORDS: Record<string, string> = {
  'npz/truncated.npz': 'no central directory',
  'npz/bitflip.npz': 'CRC-32 mismatch',
  'npz/sample_count_mismatch.npz': "'values' has 63 samples",
  'npz/missing_values.npz': "'values' missing",
  'npz/object_dtype.npz': 'dtype object',
  'npz/absurd_shape.npz': 'sanity limit',
  'npz/not_a_zip.npz': 'no central directory',
  'npz/wrong_dtype.npz': 'dtype unicode string',
  'sqlite/corrupt_page.db': 'integrity_check',
  'sqlite/truncated.db': 'truncated',
  'sqlite/not_sqlite.db': 'not a database',
  'models/bad_header_len.safetensors': 'header length',
}

export function sha256Of(buf: Uint8Array): string {
  return createHash('sha256').update(buf).digest('hex')
}

export async function sha256OfFile(path: string): Promise<string> {
  return sha256Of(await readFile(path))
}

/**
 * Copies fixtures (with the -wal of a WAL database) into `dataDir` under their
 * relative paths. The originals are never opened by SQLite or written to:
 * nodes move invalid files into quarantine and open databases, so they get copies.
 */
export async function copyFixtures(dataDir: string, rels: string[]): Promise<void> {
  for (const rel of rels) {
    const src = join(FIXTURES, rel)
    const dest = join(dataDir, rel)
    await mkdir(dirname(dest), { recursive: true })
    await copyFile(src, dest)
    if (existsSync(`${src}-wal`)) await copyFile(`${src}-wal`, `${dest}-wal`)
  }
}

/** Every regular file under a data dir, relative, outside the node's own .meshsync folder. */
export async function dataFiles(dataDir: string): Promise<string[]> {
  const out: string[] = []
  for (const e of await readdir(dataDir, { recursive: true, withFileTypes: true })) {
    if (!e.isFile()) continue
    const rel = join(e.parentPath, e.name).slice(dataDir.length + 1)
    if (rel.startsWith('.meshsync')) continue
    out.push(rel)
  }
  return out.sort()
}

/**
 * Reads a server-sent event stream (GET /events/stream) in the background and
 * collects its events; `close()` ends it.
 */
export function sseCollector(url: string): { events: MeshsyncEvent[]; ready: Promise<void>; close: () => void } {
  const ac = new AbortController()
  const events: MeshsyncEvent[] = []
  const { promise: ready, resolve: onReady, reject: onError } = Promise.withResolvers<void>()
  ready.catch(() => {})
  void (async () => {
    try {
      const res = await fetch(url, { signal: ac.signal, headers: { accept: 'text/event-stream' } })
      if (!res.ok || res.body == null) throw new Error(`SSE ${url}: HTTP ${res.status}`)
      onReady()
      for await (const e of sseEvents<MeshsyncEvent>(res.body)) events.push(e)
    } catch (err) {
      if (!ac.signal.aborted) onError(err)
    }
  })()
  return { events, ready, close: () => ac.abort() }
}
