import { existsSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { Kind } from '../../src/config/schema.js'

const REPO = join(import.meta.dirname, '..', '..')

/** The shared fixtures: MESHSYNC_FIXTURES, beside the repo (CI clones it with shared/ next to it), else the workplace copy. */
export const FIXTURES = [process.env.MESHSYNC_FIXTURES, join(REPO, '..', 'shared', 'fixtures'), '/work/shared/fixtures'].find(
  (d): d is string => d != null && existsSync(join(d, 'EXPECTED.tsv')),
)!

export interface FixtureRow {
  path: string
  kind: Kind
  valid: boolean
  why: string
}

/** EXPECTED.tsv: each fixture with its kind and verdict. */
export async function fixtureRows(): Promise<FixtureRow[]> {
  return (await readFile(join(FIXTURES, 'EXPECTED.tsv'), 'utf8'))
    .split('\n')
    .slice(1)
    .filter((l) => l.trim() !== '')
    .map((l) => {
      const [path, kind, verdict, why] = l.split('\t')
      return { path: path!, kind: kind as Kind, valid: verdict === 'valid', why: why ?? '' }
    })
}
