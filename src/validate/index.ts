import { open } from 'node:fs/promises'
import { basename, extname } from 'node:path'
import type { Kind } from '../config/schema.js'
import { validateNpz } from './npz.js'
import { validateSafetensors } from './safetensors.js'
import { hasSqliteMagic, validateSqlite } from './sqlite.js'
import type { ValidateOptions, Verdict } from './types.js'

export type { Depth, KindFacts, NpyArrayFacts, ValidateOptions, Verdict } from './types.js'
export type { Kind }

const ZIP_LOCAL_MAGIC = [0x50, 0x4b, 0x03, 0x04] // PK\x03\x04
const MODEL_EXTENSIONS = new Set(['.safetensors', '.pt', '.pth', '.ckpt', '.bin', '.onnx'])
const SQLITE_EXTENSIONS = new Set(['.db', '.sqlite', '.sqlite3'])

/**
 * Guesses a file's kind from its first bytes (`head`, up to 64) and its name:
 * magic bytes first (a zip named .npz is npz, the SQLite magic is sqlite,
 * model extensions are models, zip-based torch files included), then the
 * extension alone (.npz, .db/.sqlite/.sqlite3), else 'other'.
 */
export function detectKind(path: string, head: Uint8Array): Kind {
  const ext = extname(basename(path)).toLowerCase()
  const isZip = ZIP_LOCAL_MAGIC.every((b, i) => head[i] === b)
  if (isZip && ext === '.npz') return 'npz'
  if (hasSqliteMagic(head)) return 'sqlite'
  if (MODEL_EXTENSIONS.has(ext)) return 'model'
  if (ext === '.npz') return 'npz'
  if (SQLITE_EXTENSIONS.has(ext)) return 'sqlite'
  return 'other'
}

/**
 * Validates a file as `kind`. Never throws for a bad file: returns
 * `{ ok: false, reason }` with a precise reason. Throws only for I/O errors
 * (ENOENT...) and aborts. Default depth 'deep' (every byte checked).
 */
export async function validateFile(path: string, kind: Kind, opts: ValidateOptions = {}): Promise<Verdict> {
  const depth = opts.depth ?? 'deep'
  const signal = opts.signal
  signal?.throwIfAborted()
  switch (kind) {
    case 'npz':
      return validateNpz(path, { depth, signal })
    case 'sqlite':
      return validateSqlite(path, { depth, signal })
    case 'model':
      return validateModel(path, signal)
    case 'other': {
      const fh = await open(path, 'r') // only to report a missing file as such
      await fh.close()
      return { ok: true, kind: 'other', facts: { kind: 'other' } }
    }
  }
}

/**
 * safetensors files (by extension, or by their first bytes: a u64 length then
 * `{"`) are checked fully. Other model formats (torch pickles, ONNX) are
 * accepted as 'unknown': they are never unpickled or parsed here.
 */
async function validateModel(path: string, signal: AbortSignal | undefined): Promise<Verdict> {
  if (extname(path).toLowerCase() === '.safetensors') return validateSafetensors(path, { signal })
  const fh = await open(path, 'r')
  let head: Buffer
  try {
    head = Buffer.alloc(10)
    const { bytesRead } = await fh.read(head, 0, 10, 0)
    head = head.subarray(0, bytesRead)
  } finally {
    await fh.close()
  }
  if (head.length === 10 && head[8] === 0x7b && head[9] === 0x22) return validateSafetensors(path, { signal })
  return { ok: true, kind: 'model', facts: { kind: 'model', format: 'unknown' } }
}
