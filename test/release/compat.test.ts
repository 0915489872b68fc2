import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { layoutOf } from '../../src/node/layout.js'
import { checkRequiredProtocols } from '../../src/node/compat.js'
import { PROTOCOLS, versionSummary } from '../../src/node/version.js'
import { openStateDb } from '../../src/state/db.js'
import { MIGRATIONS } from '../../src/state/migrations.js'
import { EXIT_INCOMPATIBLE, IncompatibleError } from '../../src/util/errors.js'
import { startNode, stopAll } from '../helpers/cluster.js'
import { ROOT, run } from './support.js'

/**
 * What a build refuses, run as the compiled bin/meshsync (npm run build first):
 * a state database from a newer meshsync, and a cluster that requires a
 * protocol version this build does not speak. Each is one line and exit 78.
 */

const BIN = join(ROOT, 'bin', 'meshsync')
const env = { ...process.env, MESHSYNC_NODE: process.execPath }
let work = ''

beforeAll(async () => {
  if (!existsSync(join(ROOT, 'dist', 'src', 'cli', 'bin.js'))) throw new Error('dist/ is missing: run tools/node24 npm run build first')
  work = await mkdtemp(join(tmpdir(), 'meshsync-compat-'))
})
afterAll(async () => {
  if (work !== '') await rm(work, { recursive: true, force: true })
})

/** stderr less the node's JSON log lines (e.g. "new identity created"): what an operator reads. */
const messages = (stderr: string) => stderr.trim().split('\n').filter((l) => !l.startsWith('{'))

const startArgs = (dir: string, ...extra: string[]) => ['start', '--name', 'compat', '--data-dir', dir, '--listen', '/ip4/127.0.0.1/tcp/0', '--api', '127.0.0.1:0', '--local-cluster', ...extra]

describe('a state database from a newer meshsync', () => {
  it('is refused in one line naming the file, exit 78, and left as it was', async () => {
    const dir = join(work, 'newer')
    await mkdir(dir)
    const { db: dbPath, stateDir } = layoutOf(dir)
    await mkdir(stateDir, { recursive: true })
    const db = openStateDb(dbPath)
    db.prepare("INSERT INTO meta (key, value) VALUES ('written-by', 'a newer meshsync')").run()
    db.pragma(`user_version = ${MIGRATIONS.length + 1}`)
    db.close()

    const r = await run(BIN, startArgs(dir), { env, timeoutMs: 60_000 })
    expect(r.code, r.stderr).toBe(EXIT_INCOMPATIBLE)
    const lines = messages(r.stderr)
    expect(lines, r.stderr).toHaveLength(1)
    expect(lines[0]).toContain(dbPath)
    expect(lines[0]).toContain(`schema version ${MIGRATIONS.length + 1}, written by a newer meshsync`)

    const after = new Database(dbPath, { readonly: true })
    expect(after.pragma('user_version', { simple: true })).toBe(MIGRATIONS.length + 1)
    expect(after.prepare("SELECT value FROM meta WHERE key = 'written-by'").pluck().get()).toBe('a newer meshsync')
    after.close()
  })

  it('openStateDb throws IncompatibleError and does not migrate it', async () => {
    const path = join(work, 'lib-newer.db')
    const db = new Database(path)
    db.pragma(`user_version = ${MIGRATIONS.length + 5}`)
    db.close()
    expect(() => openStateDb(path)).toThrow(IncompatibleError)
    const after = new Database(path, { readonly: true })
    expect(after.prepare("SELECT count(*) FROM sqlite_master WHERE name = 'files'").pluck().get()).toBe(0)
    after.close()
  })

  it('an older database is migrated forward to the current version', async () => {
    const path = join(work, 'older.db')
    const db = new Database(path)
    db.exec(MIGRATIONS[0]!)
    db.pragma('user_version = 1')
    db.prepare("INSERT INTO meta (key, value) VALUES ('kept', 'yes')").run()
    db.close()
    const up = openStateDb(path)
    expect(up.pragma('user_version', { simple: true })).toBe(MIGRATIONS.length)
    expect(up.prepare("SELECT value FROM meta WHERE key = 'kept'").pluck().get()).toBe('yes')
    up.close()
  })
})

describe('cluster.requireProtocols', () => {
  it('a node that does not speak a required protocol refuses to start, naming it, exit 78', async () => {
    const dir = join(work, 'require')
    await mkdir(dir)
    const r = await run(BIN, startArgs(dir, '--set', 'cluster.requireProtocols=["/meshsync/blob/1.0.0","/meshsync/blob/9.0.0"]'), { env, timeoutMs: 60_000 })
    expect(r.code, r.stderr).toBe(EXIT_INCOMPATIBLE)
    const lines = messages(r.stderr)
    expect(lines, r.stderr).toHaveLength(1)
    expect(lines[0]).toContain('cluster.requireProtocols requires /meshsync/blob/9.0.0, which meshsync')
    expect(lines[0]).toContain('upgrade meshsync on this host')
  })

  it('a node that speaks every required protocol starts', async () => {
    const node = await startNode({ name: 'req-ok', settings: { 'cluster.requireProtocols': [...PROTOCOLS] } })
    await stopAll([node])
    expect(() => checkRequiredProtocols(['/meshsync/manifest/2'])).toThrow(/\/meshsync\/manifest\/2/)
  })
})

describe('meshsync --version', () => {
  it('prints the version, the commit of the build and every protocol ID', async () => {
    const { version } = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { version: string }
    const { commit } = JSON.parse(await readFile(join(ROOT, 'dist', 'build-info.json'), 'utf8')) as { commit: string }
    const r = await run(BIN, ['--version'], { env })
    expect(r.code).toBe(0)
    expect(r.stdout.split('\n')[0]).toBe(`meshsync ${version} (commit ${commit})`)
    for (const p of PROTOCOLS) expect(r.stdout).toContain(`  ${p}\n`)
  })

  it('versionSummary flags more than one build as mixed', () => {
    expect(versionSummary(['0.1.0', '0.1.0'])).toEqual({ mixed: false, counts: { '0.1.0': 2 } })
    expect(versionSummary(['0.1.0', '0.2.0+abc', '0.1.0'])).toEqual({ mixed: true, counts: { '0.1.0': 2, '0.2.0+abc': 1 } })
  })
})
