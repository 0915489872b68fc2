import { copyFile, mkdir, readdir, readFile } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { detectKind, validateFile } from '../../src/validate/index.js'
import { fixtureRows } from '../helpers/fixtures.js'
import { FIXTURES, tempDir } from './helpers.js'

const rows = await fixtureRows()

/** The key words each invalid fixture's reason must contain. */
const REASON: Record<string, string> = {
  'npz/truncated.npz': 'npz: no central directory (truncated or not a zip)',
  'npz/bitflip.npz': "npz member 'features.npy': CRC-32 mismatch (expected 750e0086, got ",
  'npz/sample_count_mismatch.npz': "npz: 'values' has 63 samples, 'features' has 64",
  'npz/missing_values.npz': "npz: required array 'values' missing",
  'npz/object_dtype.npz': "npz member 'values.npy': dtype object ('|O') is not allowed (pickled data is never loaded)",
  'npz/absurd_shape.npz': "npz member 'features.npy': axis 0 is 2000000000, over the 1e9 sanity limit",
  'npz/not_a_zip.npz': 'npz: no central directory (truncated or not a zip)',
  'npz/wrong_dtype.npz': "npz member 'values.npy': dtype unicode string ('<U3') is not allowed",
  'sqlite/corrupt_page.db': 'sqlite: integrity_check: Tree 6 page 6',
  'sqlite/truncated.db': 'truncated',
  'sqlite/not_sqlite.db': 'sqlite: file is not a database',
  'models/bad_header_len.safetensors': 'safetensors: header length 1099511627776 is over the 100 MiB limit',
}
/** quick_check reports the same damage under its own name. */
const QUICK_REASON: Record<string, string> = {
  'sqlite/corrupt_page.db': 'sqlite: quick_check: Tree 6 page 6',
}

let tmp: { dir: string; cleanup: () => Promise<void> }
beforeAll(async () => {
  tmp = await tempDir()
})
afterAll(async () => {
  await tmp.cleanup()
})

let n = 0
/** Copies a fixture (with its -wal when there is one) into a fresh folder: SQLite must never open the originals. */
async function copyOf(rel: string): Promise<string> {
  const dir = join(tmp.dir, String(n++))
  await mkdir(dir)
  const src = join(FIXTURES, rel)
  const siblings = await readdir(dirname(src))
  for (const f of siblings) {
    if (f === basename(src) || f.startsWith(`${basename(src)}-`)) await copyFile(src.replace(basename(src), f), join(dir, f))
  }
  return join(dir, basename(src))
}

describe('fixtures in EXPECTED.tsv', () => {
  it('lists every fixture file', async () => {
    expect(rows.length).toBe(17)
    for (const sub of ['npz', 'sqlite', 'models']) {
      for (const f of await readdir(join(FIXTURES, sub), { recursive: true })) {
        if (/\.(npz|db|safetensors)$/.test(f)) expect(rows.map((r) => r.path)).toContain(`${sub}/${f}`)
      }
    }
  })

  for (const depth of ['deep', 'quick'] as const) {
    describe(depth, () => {
      for (const row of rows) {
        it(`${row.path}: ${row.valid ? 'valid' : 'invalid'} (${row.why})`, async () => {
          const path = await copyOf(row.path)
          const v = await validateFile(path, row.kind, { depth })
          // quick mode reads headers only: the flipped byte deep inside features.npy goes unseen
          const expectValid = row.valid || (depth === 'quick' && row.path === 'npz/bitflip.npz')
          if (expectValid) {
            expect(v, JSON.stringify(v)).toMatchObject({ ok: true, kind: row.kind })
          } else {
            expect(v.ok).toBe(false)
            expect(v.kind).toBe(row.kind)
            const want = (depth === 'quick' && QUICK_REASON[row.path]) || REASON[row.path]!
            expect(v.ok ? '' : v.reason).toContain(want)
          }
        })
      }
    })
  }

  it('detects every fixture kind from its name and first 64 bytes', async () => {
    for (const row of rows) {
      const head = (await readFile(join(FIXTURES, row.path))).subarray(0, 64)
      expect(detectKind(row.path, head), row.path).toBe(row.kind)
    }
  })
})

describe('facts of valid fixtures', () => {
  it('hex8_2p.npz (deflate)', async () => {
    const v = await validateFile(join(FIXTURES, 'npz/hex8_2p.npz'), 'npz')
    expect(v).toEqual({
      ok: true,
      kind: 'npz',
      facts: {
        kind: 'npz',
        samples: 64,
        arrays: [
          { name: 'features', dtype: '<f4', shape: [64, 14, 9, 9] },
          { name: 'values', dtype: '<f4', shape: [64, 2] },
          { name: 'policy_indices', dtype: '<i4', shape: [64, 16] },
          { name: 'policy_values', dtype: '<f4', shape: [64, 16] },
        ],
      },
    })
  })

  it('square8_4p.npz (stored)', async () => {
    const v = await validateFile(join(FIXTURES, 'npz/square8_4p.npz'), 'npz', { depth: 'quick' })
    expect(v.ok && v.facts.kind === 'npz' && v.facts.samples).toBe(32)
  })

  it('selfplay_hex8_2p.db', async () => {
    const v = await validateFile(await copyOf('sqlite/selfplay_hex8_2p.db'), 'sqlite')
    expect(v).toEqual({ ok: true, kind: 'sqlite', facts: { kind: 'sqlite', pageSize: 4096, pageCount: 374, tables: ['games', 'moves'] } })
  })

  it('policy_hex8_2p.safetensors', async () => {
    const v = await validateFile(join(FIXTURES, 'models/policy_hex8_2p.safetensors'), 'model')
    expect(v).toEqual({ ok: true, kind: 'model', facts: { kind: 'model', format: 'safetensors', tensors: 2 } })
  })
})
