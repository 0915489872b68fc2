/**
 * Benchmarks: `npm run bench -- NAME [options]`. Each prints its figures next
 * to a baseline measured in the same run, and ends with one JSON line.
 */
const BENCHES: Record<string, () => Promise<{ run(argv: string[]): Promise<void> }>> = {
  gossip: () => import('./gossip.js'),
  transfer: () => import('./transfer.js'),
  bittorrent: () => import('./bittorrent.js'),
  fanout: () => import('./fanout.js'),
  failure: () => import('./failure.js'),
  replication: () => import('./replication.js'),
  catalog: () => import('./catalog.js'),
  merge: () => import('./merge.js'),
  dashboard: () => import('./dashboard.js'),
  sinks: () => import('./sinks.js'),
}

const [name, ...rest] = process.argv.slice(2)
const load = name != null ? BENCHES[name] : undefined
if (load == null) {
  process.stderr.write(`usage: npm run bench -- NAME [options]\nNAME: ${Object.keys(BENCHES).join(', ')}\n`)
  process.exit(2)
}
const mod = await load()
try {
  await mod.run(rest)
} catch (err) {
  process.stderr.write(`bench ${name}: ${err instanceof Error ? err.message : String(err)}\n`)
  process.exit(1)
}
process.exit(0)
