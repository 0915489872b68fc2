import { byteStream } from '../harness/prng.js'
import { writeNpz } from './npz.js'
import { writeSafetensors } from './safetensors.js'
import { writeGamesDb } from './sqlite.js'
import { writeAtomically } from './write.js'

/** What a simulated node produces. */
export type DataKind = 'sqlite' | 'npz' | 'model' | 'blob'

/** Where each kind goes under the data dir, and its file name. */
export function dataPath(kind: DataKind, node: string, index: number): string {
  const i = index.toString().padStart(4, '0')
  switch (kind) {
    case 'sqlite':
      return `games/${node}/selfplay_${i}.db`
    case 'npz':
      return `npz/${node}/samples_${i}.npz`
    case 'model':
      return `models/${node}/candidate_${i}.safetensors`
    case 'blob':
      return `other/${node}/blob_${i}.bin`
  }
}

/**
 * Writes one generated file of `kind` of about `size` bytes at `absPath`.
 * Deterministic: the bytes depend only on (seed, label, size).
 */
export async function generateFile(kind: DataKind, absPath: string, size: number, seed: number, label: string): Promise<void> {
  switch (kind) {
    case 'sqlite':
      await writeGamesDb(absPath, size, seed, label)
      return
    case 'npz':
      await writeNpz(absPath, size, seed, label)
      return
    case 'model':
      await writeSafetensors(absPath, size, seed, label)
      return
    case 'blob': {
      const random = byteStream(seed, `blob:${label}`)
      await writeAtomically(absPath, async (w) => {
        for (let left = size; left > 0; ) {
          const piece = random.next(Math.min(left, 1 << 20))
          await w.write(piece)
          left -= piece.length
        }
      })
    }
  }
}
