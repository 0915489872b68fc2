import { type FileHandle, open } from 'node:fs/promises'
import { crc32 } from 'node:zlib'
import { type NpyHeader, NpyFormatError, npyHeaderSize, parseNpyHeader } from './npy-header.js'
import { hasControlChars, quoted } from './text.js'
import type { Depth, NpyArrayFacts, Verdict } from './types.js'
import { checkNoOverlap, type LocatedZipEntry, locateEntry, memberData, readCentralDirectory, ZipFormatError } from './zip.js'

/**
 * NPZ training data: a zip of .npy members written by numpy. Checks the zip
 * structure, member names, every .npy header (numeric dtypes only, bounded
 * shapes, sizes that match the data), the required arrays and a common
 * sample count; in deep mode also every member's size and CRC-32, streamed.
 */

const REQUIRED = ['features', 'values'] as const
/** Bytes of member data read per step: large in deep mode (throughput), small in quick mode (only headers are needed). */
const DEEP_READ_CHUNK = 1024 * 1024
const QUICK_READ_CHUNK = 16 * 1024

class Invalid extends Error {}

export async function validateNpz(path: string, opts: { depth: Depth; signal?: AbortSignal }): Promise<Verdict> {
  opts.signal?.throwIfAborted()
  const fh = await open(path, 'r')
  try {
    const { size } = await fh.stat()
    const arrays = await inspect(fh, size, opts)
    const features = arrays.find((a) => a.name === 'features')!
    return { ok: true, kind: 'npz', facts: { kind: 'npz', arrays, samples: features.shape[0]! } }
  } catch (err) {
    if (err instanceof Invalid) return { ok: false, kind: 'npz', reason: err.message }
    if (err instanceof ZipFormatError) {
      const m = err.message
      return { ok: false, kind: 'npz', reason: m.startsWith('member ') ? `npz ${m}` : `npz: ${m}` }
    }
    throw err
  } finally {
    await fh.close()
  }
}

async function inspect(
  fh: FileHandle,
  size: number,
  opts: { depth: Depth; signal?: AbortSignal },
): Promise<NpyArrayFacts[]> {
  const dir = await readCentralDirectory(fh, size)
  const seen = new Set<string>()
  for (const e of dir.entries) {
    const who = `npz member ${show(e.name)}`
    const problem = memberNameProblem(e.name)
    if (problem != null) throw new Invalid(`${who}: ${problem}`)
    if (seen.has(e.name)) throw new Invalid(`npz: duplicate member ${show(e.name)}`)
    seen.add(e.name)
    if (e.method !== 0 && e.method !== 8) {
      throw new Invalid(`${who}: compression method ${e.method} is not supported (stored or deflate only)`)
    }
  }
  for (const name of REQUIRED) {
    if (!seen.has(`${name}.npy`)) throw new Invalid(`npz: required array '${name}' missing`)
  }
  const located: LocatedZipEntry[] = []
  for (const e of dir.entries) located.push(await locateEntry(fh, e, dir.centralDirectoryOffset))
  checkNoOverlap(located)

  const arrays: NpyArrayFacts[] = []
  for (const e of located) {
    const header = await inspectMember(fh, e, opts)
    arrays.push({ name: e.name.slice(0, -'.npy'.length), dtype: header.descr, shape: header.shape })
  }
  for (const a of arrays) {
    if (a.shape.length === 0) throw new Invalid(`npz member ${show(`${a.name}.npy`)}: 0-d array has no sample axis`)
  }
  const features = arrays.find((a) => a.name === 'features')!
  const samples = features.shape[0]!
  for (const a of arrays) {
    if (a.shape[0] !== samples) {
      throw new Invalid(`npz: ${show(a.name)} has ${a.shape[0]} samples, 'features' has ${samples}`)
    }
  }
  return arrays
}

/**
 * Reads one member: its .npy header always; in deep mode every byte too
 * (counted and CRC-checked, never held). Quick mode stops once the header is
 * parsed, so a member whose data is damaged past its header passes quick mode
 * (bitflip.npz does: the flipped byte is deep inside features.npy).
 */
async function inspectMember(
  fh: FileHandle,
  e: LocatedZipEntry,
  opts: { depth: Depth; signal?: AbortSignal },
): Promise<NpyHeader> {
  const who = `npz member ${show(e.name)}`
  const deep = opts.depth === 'deep'
  const collector = new HeaderCollector()
  let crc = 0
  let total = 0
  try {
    for await (const chunk of memberData(fh, e, { signal: opts.signal, readChunk: deep ? DEEP_READ_CHUNK : QUICK_READ_CHUNK })) {
      total += chunk.length
      if (total > e.uncompressedSize) {
        throw new Invalid(`${who}: inflates to more than the ${e.uncompressedSize} bytes the central directory says`)
      }
      if (deep) crc = crc32(chunk, crc)
      if (collector.header == null && collector.push(chunk)) {
        checkHeaderAgainstSize(who, collector.header!, e.uncompressedSize)
        if (!deep) break
      }
    }
  } catch (err) {
    if (err instanceof NpyFormatError) throw new Invalid(`${who}: ${err.message}`)
    throw err
  }
  let header = collector.header
  if (header == null) {
    try {
      header = collector.finish()
    } catch (err) {
      if (err instanceof NpyFormatError) throw new Invalid(`${who}: ${err.message}`)
      throw err
    }
    checkHeaderAgainstSize(who, header, e.uncompressedSize)
  }
  if (deep) {
    if (total !== e.uncompressedSize) {
      throw new Invalid(`${who}: holds ${total} bytes, the central directory says ${e.uncompressedSize}`)
    }
    if (crc !== e.crc32) throw new Invalid(`${who}: CRC-32 mismatch (expected ${hex32(e.crc32)}, got ${hex32(crc)})`)
  }
  return header
}

/** The member must hold exactly the header plus product(shape) * itemsize bytes: catches absurd shapes with little data. */
function checkHeaderAgainstSize(who: string, h: NpyHeader, memberSize: number): void {
  const expected = BigInt(h.headerBytes) + h.dataBytes
  if (expected !== BigInt(memberSize)) {
    const shape = `(${h.shape.join(', ')}${h.shape.length === 1 ? ',' : ''})`
    throw new Invalid(
      `${who}: shape ${shape} of '${h.descr}' needs ${h.dataBytes} data bytes after a ${h.headerBytes}-byte header, but the member holds ${memberSize} bytes`,
    )
  }
}

/** Gathers the first bytes of a member until the whole .npy header is there (at most 12 + 64 KiB). */
class HeaderCollector {
  header: NpyHeader | undefined
  private parts: Buffer[] = []
  private have = 0
  private need = 12
  private sized = false

  /** Feeds the next bytes; returns true once the header is parsed. Copies what it keeps. */
  push(chunk: Uint8Array): boolean {
    let off = 0
    while (this.header == null && off < chunk.length) {
      const n = Math.min(this.need - this.have, chunk.length - off)
      this.parts.push(Buffer.from(chunk.subarray(off, off + n)))
      this.have += n
      off += n
      if (this.have < this.need) return false
      const buf = Buffer.concat(this.parts)
      this.parts = [buf]
      if (!this.sized) {
        this.need = npyHeaderSize(buf)! // defined: buf holds 12 bytes
        this.sized = true
        if (this.need > this.have) continue
      }
      this.header = parseNpyHeader(buf)
    }
    return this.header != null
  }

  /** The member ended: parse what there is (throws when it ends inside the header). */
  finish(): NpyHeader {
    this.header ??= parseNpyHeader(Buffer.concat(this.parts))
    return this.header
  }
}

/** Array names only: no path parts at all, since a name must never become a path. */
function memberNameProblem(name: string): string | undefined {
  if (name.includes('\0')) return 'name contains NUL'
  if (name.includes('..')) return "name contains '..' (path parts are not allowed)"
  if (name.includes('/') || name.includes('\\')) return 'name has path parts (/ or \\), which are not allowed'
  if (/^[A-Za-z]:/.test(name)) return 'name is a drive-letter (absolute) path'
  if (hasControlChars(name)) return 'name contains control characters'
  if (!name.endsWith('.npy')) return 'is not a .npy array (names must end in .npy)'
  if (name === '.npy') return 'empty array name'
  return undefined
}

function show(name: string): string {
  return quoted(name)
}

function hex32(n: number): string {
  return (n >>> 0).toString(16).padStart(8, '0')
}
