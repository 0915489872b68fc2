import { execFileSync } from 'node:child_process'
import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { configSchema } from '../../src/config/schema.js'
import { mergeSource } from '../../src/merge/merge-source.js'
import { compileRules } from '../../src/merge/rules.js'
import { mergeSnapshot, openTarget, tableCounts } from '../../src/merge/sql-merge.js'
import { validateFile } from '../../src/validate/index.js'
import { SELFPLAY_SCHEMA } from '../data/sqlite.js'
import { benchArgs } from './args.js'
import { round } from './stats.js'

/**
 * Consolidating self-play databases: N sources of G games each (games and
 * moves tables, neighbouring sources sharing a tenth of their games) merged
 * into one target three ways, in the same run, each into a fresh target:
 *
 * - meshsync: the merge service's path for each source: private consistent
 *   snapshot, deep validation (integrity_check), the merge with its
 *   row-count checks, provenance row, one IMMEDIATE transaction per source;
 * - meshsync SQL only: the same merge statements and checks on the source
 *   files directly (no snapshot, no validation);
 * - baseline: ATTACH + INSERT OR IGNORE per table per source, one script,
 *   run by the sqlite3 CLI when installed (else by better-sqlite3).
 *
 *   npm run bench -- merge [--sources 100] [--games 10000] [--moves 3]
 */
export async function run(argv: string[]): Promise<void> {
  const { num } = benchArgs(argv)
  const sources = num('sources', 100)
  const games = num('games', 10_000)
  const moves = num('moves', 3)
  const dir = await mkdtemp(join(tmpdir(), 'meshsync-bench-merge-'))
  try {
    process.stderr.write(`merge bench: writing ${sources} sources of ${games} games (${moves} moves each)\n`)
    const paths: string[] = []
    for (let s = 0; s < sources; s++) {
      const p = join(dir, 'src', `sp${String(s).padStart(3, '0')}.db`)
      writeSource(p, s * Math.round(games * 0.9), games, moves)
      paths.push(p)
    }
    const distinctGames = (sources - 1) * Math.round(games * 0.9) + games
    const sourceRows = sources * games * (1 + moves)
    const rule = compileRules(
      configSchema.parse({ merges: { canon: { sources: ['src/*.db'], target: 'canon.db', tables: { games: { key: ['game_id'] }, moves: { key: ['game_id', 'move_number'] } } } } }).merges,
    )[0]!
    const results: Record<string, { seconds: number; rows: number }> = {}

    // meshsync, full path
    const work = join(dir, 'work')
    await mkdir(work, { recursive: true })
    let t0 = performance.now()
    let target = openTarget(join(dir, 'meshsync.db'), { create: true })
    const signal = new AbortController().signal
    const io = {
      dataDir: dir,
      snapshotDir: dir,
      workDir: work,
      validate: (p: string, sig: AbortSignal) => validateFile(p, 'sqlite', { depth: 'deep', signal: sig }),
      quarantine: async () => {
        throw new Error('no source should be invalid here')
      },
      now: () => Date.now(),
    }
    for (const [i, p] of paths.entries()) {
      const rel = p.slice(dir.length + 1)
      const o = await mergeSource(io, rule, 'canon.db', target, { path: rel, sha256: String(i).padStart(64, '0'), kind: 'sqlite', origin: 'bench', version: 1 }, { logInTarget: true, signal })
      if (o.state !== 'merged') throw new Error(`source ${rel}: ${o.state} ${'reason' in o ? o.reason : ''}`)
    }
    results['meshsync (snapshot + integrity_check + checked merge)'] = { seconds: (performance.now() - t0) / 1000, rows: total(tableCounts(target, rule.tables)) }
    target.close()

    // meshsync SQL only
    t0 = performance.now()
    target = openTarget(join(dir, 'sql-only.db'), { create: true })
    for (const p of paths) mergeSnapshot(target, p, rule.tables)
    results['meshsync SQL only (checked merge, no snapshot/validation)'] = { seconds: (performance.now() - t0) / 1000, rows: total(tableCounts(target, rule.tables)) }
    target.close()

    // baseline: ATTACH + INSERT OR IGNORE
    const base = join(dir, 'baseline.db')
    const schemaDb = new Database(paths[0]!, { readonly: true })
    const schema = (schemaDb.prepare(`SELECT sql FROM sqlite_schema WHERE sql IS NOT NULL ORDER BY type DESC`).all() as { sql: string }[]).map((r) => `${r.sql};`)
    schemaDb.close()
    const script = [
      'PRAGMA journal_mode = WAL;',
      ...schema,
      ...paths.flatMap((p) => [`ATTACH '${p.replace(/'/g, "''")}' AS s;`, 'INSERT OR IGNORE INTO games SELECT * FROM s.games;', 'INSERT OR IGNORE INTO moves SELECT * FROM s.moves;', 'DETACH s;']),
    ].join('\n')
    const cli = hasSqliteCli()
    t0 = performance.now()
    if (cli) execFileSync('sqlite3', [base], { input: script, stdio: ['pipe', 'ignore', 'inherit'] })
    else {
      const db = new Database(base)
      db.exec(script)
      db.close()
    }
    const bdb = new Database(base, { readonly: true })
    const baseRows = total(tableCounts(bdb, rule.tables))
    bdb.close()
    results[`baseline: ATTACH + INSERT OR IGNORE (${cli ? 'sqlite3 CLI' : 'better-sqlite3'})`] = { seconds: (performance.now() - t0) / 1000, rows: baseRows }

    const expectedRows = distinctGames * (1 + moves)
    for (const [name, r] of Object.entries(results)) {
      if (r.rows !== expectedRows) throw new Error(`${name}: ${r.rows} rows in the target, expected ${expectedRows}`)
    }
    process.stdout.write(`\nmerge: ${sources} sources x ${games} games (+${moves} moves each) = ${sourceRows} source rows, ${expectedRows} distinct rows in the target\n`)
    for (const [name, r] of Object.entries(results)) {
      process.stdout.write(`  ${name.padEnd(62)} ${round(r.seconds, 2).toString().padStart(7)} s  ${Math.round(sourceRows / r.seconds).toLocaleString('en-US').padStart(11)} source rows/s\n`)
    }
    process.stdout.write(`${JSON.stringify({ bench: 'merge', sources, games, moves, sourceRows, targetRows: expectedRows, results: Object.fromEntries(Object.entries(results).map(([k, r]) => [k, { seconds: round(r.seconds, 3), rowsPerSecond: Math.round(sourceRows / r.seconds) }])) })}\n`)
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

function total(counts: Record<string, number>): number {
  return Object.values(counts).reduce((n, x) => n + x, 0)
}

function hasSqliteCli(): boolean {
  try {
    execFileSync('sqlite3', ['-version'], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

function writeSource(path: string, from: number, games: number, moves: number): void {
  const { mkdirSync } = process.getBuiltinModule('node:fs')
  mkdirSync(join(path, '..'), { recursive: true })
  const db = new Database(path)
  db.pragma('journal_mode = DELETE')
  db.exec(SELFPLAY_SCHEMA)
  const g = db.prepare('INSERT INTO games VALUES (?, ?, 2, ?, ?, ?)')
  const m = db.prepare('INSERT INTO moves VALUES (?, ?, ?, ?)')
  db.transaction(() => {
    for (let i = from; i < from + games; i++) {
      const id = `g${String(i).padStart(8, '0')}`
      g.run(id, 'hex8', i % 2, moves, new Date(Date.UTC(2025, 0, 1) + i * 1000).toISOString())
      for (let k = 0; k < moves; k++) m.run(id, k, k % 2, `place ${(i * 7 + k) % 64}`)
    }
  })()
  db.close()
}
