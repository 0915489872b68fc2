import { readFile } from 'node:fs/promises'
import { createTorrentMeta, metaFromPieces, pieceLengthFor } from '../../src/bittorrent/torrent-meta.js'
import { digestFile } from '../../src/catalog/hasher.js'
import { round } from './stats.js'
import { testFile } from './test-file.js'
import { benchArgs } from './args.js'

/**
 * Cataloguing one large file that gets a torrent: the catalog's read (SHA-256
 * of the whole and of each chunk) plus the torrent's SHA-1 pieces, done as
 * two reads (as before) or as one (the catalog hashes the pieces too), next
 * to the catalog's read alone as the baseline. The file is in the page cache
 * (it is read once before timing), so this is hashing and copying, not disk.
 *
 *   npm run bench -- catalog [--mib 1024] [--runs 3]
 */
export async function run(argv: string[]): Promise<void> {
  const { num } = benchArgs(argv)
  const mib = num('mib', 1024)
  const runs = num('runs', 3)
  const path = await testFile(mib)
  const sha = (await readFile(`${path}.sha256`, 'utf8')).trim()
  await digestFile(path) // warm the page cache

  const ways: Record<string, () => Promise<string | undefined>> = {
    'catalog read alone (baseline)': async () => {
      await digestFile(path)
      return undefined
    },
    'catalog read, then torrent read (before)': async () => {
      const d = await digestFile(path)
      return (await createTorrentMeta(path, { sha256: d.sha256 })).infoHash
    },
    'one read for both (now)': async () => {
      const d = await digestFile(path, { sha1PieceLength: pieceLengthFor })
      return metaFromPieces(d.sha256, d.size, d.sha1Pieces!.pieceLength, d.sha1Pieces!.hashes).infoHash
    },
  }
  const times: Record<string, number[]> = Object.fromEntries(Object.keys(ways).map((k) => [k, []]))
  const hashes = new Set<string>()
  process.stderr.write(`catalog bench: ${mib} MiB file ${sha.slice(0, 12)}, ${runs} runs each, interleaved\n`)
  for (let r = 0; r < runs; r++) {
    for (const [name, fn] of Object.entries(ways)) {
      const t0 = performance.now()
      const infoHash = await fn()
      times[name]!.push(performance.now() - t0)
      if (infoHash != null) hashes.add(infoHash)
    }
  }
  if (hashes.size !== 1) throw new Error(`the two ways gave different infoHashes: ${[...hashes].join(', ')}`)
  const median = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)]!
  const rows = Object.entries(times).map(([name, t]) => ({ name, ms: median(t), mbps: (mib * 1024 * 1024) / 1e6 / (median(t) / 1000) }))
  process.stdout.write(`\n| ${mib} MiB, page cache warm, median of ${runs} | ms | MB/s |\n|---|---|---|\n`)
  for (const r of rows) process.stdout.write(`| ${r.name} | ${Math.round(r.ms)} | ${round(r.mbps)} |\n`)
  process.stdout.write(
    `\n${JSON.stringify({ bench: 'catalog', sizeMiB: mib, runs, ms: Object.fromEntries(rows.map((r) => [r.name, Math.round(r.ms)])), sameInfoHash: true })}\n`,
  )
}
