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
/** Extensions that only models use: a file so named is a model (and validated as one). */
const MODEL_EXTENSIONS = new Set(['.safetensors', '.pt', '.pth', '.ckpt', '.onnx'])
/** Extensions any program uses (`.bin`): a model only if its first bytes are a model format's. */
const SHARED_MODEL_EXTENSIONS = new Set(['.bin'])
const SQLITE_EXTENSIONS = new Set(['.db', '.sqlite', '.sqlite3'])

/**
 * Guesses a file's kind from its first bytes (`head`, up to 64) and its name:
 * magic bytes first (a zip named .npz is npz, the SQLite magic is sqlite,
 * model extensions are models, zip-based torch files included), then the
 * extension alone (.npz, .db/.sqlite/.sqlite3), else 'other'. A `.bin` is a
 * model only when its first bytes are one (see looksLikeModel): any program
 * writes .bin files, and models are broadcast to every training node.
 */
export function detectKind(path: string, head: Uint8Array): Kind {
  const ext = extname(basename(path)).toLowerCase()
  const isZip = ZIP_LOCAL_MAGIC.every((b, i) => head[i] === b)
  if (isZip && ext === '.npz') return 'npz'
  if (hasSqliteMagic(head)) return 'sqlite'
  if (MODEL_EXTENSIONS.has(ext)) return 'model'
  if (SHARED_MODEL_EXTENSIONS.has(ext)) return looksLikeModel(head) ? 'model' : 'other'
  if (ext === '.npz') return 'npz'
  if (SQLITE_EXTENSIONS.has(ext)) return 'sqlite'
  return 'other'
}

/**
 * Do these first bytes start a model file? A safetensors header (u64 length,
 * then `{"`), a torch zip checkpoint (zip magic, its first member
 * `<archive>/data.pkl`, as torch.save writes it, when the name fits in
 * `head`), or a legacy torch.save pickle (protocol 2-5 opcode, then the
 * LONG1 of torch's magic number).
 */
export function looksLikeModel(head: Uint8Array): boolean {
  if (head.length >= 10 && head[8] === 0x7b && head[9] === 0x22) {
    const len = Buffer.from(head.buffer, head.byteOffset, 8).readBigUInt64LE(0)
    if (len >= 2n && len < 100n * 1024n * 1024n) return true
  }
  if (ZIP_LOCAL_MAGIC.every((b, i) => head[i] === b) && head.length >= 30) {
    const nameLen = head[26]! | (head[27]! << 8)
    const name = Buffer.from(head.subarray(30, 30 + nameLen)).toString('latin1')
    // a name cut off by the end of `head` cannot be told apart: a zip named .bin is most likely torch's
    return 30 + nameLen > head.length || name === 'data.pkl' || name.endsWith('/data.pkl')
  }
  return head.length >= 3 && head[0] === 0x80 && head[1]! >= 2 && head[1]! <= 5 && head[2] === 0x8a
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
