import type { FileHandle } from 'node:fs/promises'
import { Readable, pipeline } from 'node:stream'
import { createInflateRaw } from 'node:zlib'

/**
 * A small, strict zip reader over a file handle: it reads the end records and
 * the central directory at offsets and streams one member's data at a time.
 * Nothing is read whole; every length from the file is bounded before a
 * buffer is allocated for it. Enough for NPZ (numpy's zipfile output,
 * including zip64 records); not a general archive tool: no multi-disk
 * archives, no encryption, no data before the first member.
 */

/** Bounds applied before anything from the file is allocated. */
export const ZIP_LIMITS = {
  /** Largest EOCD record with its comment: the search window at the end of the file. */
  eocdSearchBytes: 0xffff + 22,
  maxCentralDirectoryBytes: 16 * 1024 * 1024,
  maxEntries: 4096,
  maxNameBytes: 1024,
} as const

/** The archive is malformed; the message says how (without a prefix). */
export class ZipFormatError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'ZipFormatError'
  }
}

export interface ZipEntry {
  name: string
  /** 0 stored, 8 deflate; anything else is reported by the caller. */
  method: number
  flags: number
  crc32: number
  compressedSize: number
  uncompressedSize: number
  localHeaderOffset: number
}

export interface LocatedZipEntry extends ZipEntry {
  /** Offset of the member's first data byte (after its local header). */
  dataOffset: number
}

export interface ZipDirectory {
  entries: ZipEntry[]
  /** Where the central directory starts: member data must end before it. */
  centralDirectoryOffset: number
  zip64: boolean
}

const SIG_LOCAL = 0x04034b50
const SIG_CENTRAL = 0x02014b50
const SIG_EOCD = 0x06054b50
const SIG_ZIP64_EOCD = 0x06064b50
const SIG_ZIP64_LOCATOR = 0x07064b50
const FLAG_ENCRYPTED = 0x0001
const FLAG_DATA_DESCRIPTOR = 0x0008
const FLAG_STRONG_ENCRYPTION = 0x0040
const U16_MAX = 0xffff
const U32_MAX = 0xffffffff

const utf8 = new TextDecoder('utf-8', { fatal: true })

/** Reads exactly `length` bytes at `position`; a short read means the file ended early. */
export async function readAt(fh: FileHandle, position: number, length: number): Promise<Buffer> {
  const buf = Buffer.alloc(length)
  let done = 0
  while (done < length) {
    const { bytesRead } = await fh.read(buf, done, length - done, position + done)
    if (bytesRead === 0) throw new ZipFormatError(`unexpected end of file at offset ${position + done}`)
    done += bytesRead
  }
  return buf
}

function u64(buf: Buffer, offset: number, what: string): number {
  const v = buf.readBigUInt64LE(offset)
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new ZipFormatError(`${what} ${v} is too large`)
  return Number(v)
}

/**
 * Finds the end of central directory record (and the zip64 record when there
 * is one), then reads and parses the central directory.
 */
export async function readCentralDirectory(fh: FileHandle, fileSize: number): Promise<ZipDirectory> {
  const noDirectory = 'no central directory (truncated or not a zip)'
  if (fileSize < 22) throw new ZipFormatError(noDirectory)
  const tailLength = Math.min(fileSize, ZIP_LIMITS.eocdSearchBytes)
  const tailStart = fileSize - tailLength
  const tail = await readAt(fh, tailStart, tailLength)
  let at = -1
  for (let i = tailLength - 22; i >= 0; i--) {
    // the comment must run exactly to the end of the file: no trailing bytes
    if (tail.readUInt32LE(i) === SIG_EOCD && i + 22 + tail.readUInt16LE(i + 20) === tailLength) {
      at = i
      break
    }
  }
  if (at < 0) throw new ZipFormatError(noDirectory)
  const eocdOffset = tailStart + at
  const eocd = tail.subarray(at, at + 22)
  let disk = eocd.readUInt16LE(4)
  let cdDisk = eocd.readUInt16LE(6)
  let entriesOnDisk = eocd.readUInt16LE(8)
  let entries = eocd.readUInt16LE(10)
  let cdSize = eocd.readUInt32LE(12)
  let cdOffset = eocd.readUInt32LE(16)
  let cdEnd = eocdOffset
  let zip64 = false

  const locator = eocdOffset >= 20 ? await readAt(fh, eocdOffset - 20, 20) : undefined
  if (locator != null && locator.readUInt32LE(0) === SIG_ZIP64_LOCATOR) {
    zip64 = true
    if (locator.readUInt32LE(4) !== 0 || locator.readUInt32LE(16) > 1) {
      throw new ZipFormatError('multi-disk (split) zip archives are not supported')
    }
    const recordOffset = u64(locator, 8, 'zip64 end record offset')
    if (recordOffset + 56 > eocdOffset - 20) {
      throw new ZipFormatError(`zip64 end of central directory record at ${recordOffset} is outside the file`)
    }
    const rec = await readAt(fh, recordOffset, 56)
    if (rec.readUInt32LE(0) !== SIG_ZIP64_EOCD) {
      throw new ZipFormatError(`no zip64 end of central directory record at offset ${recordOffset}`)
    }
    if (recordOffset + 12 + u64(rec, 4, 'zip64 end record size') > eocdOffset - 20) {
      throw new ZipFormatError('zip64 end of central directory record overlaps its locator')
    }
    disk = rec.readUInt32LE(16)
    cdDisk = rec.readUInt32LE(20)
    entriesOnDisk = u64(rec, 24, 'member count')
    entries = u64(rec, 32, 'member count')
    cdSize = u64(rec, 40, 'central directory size')
    cdOffset = u64(rec, 48, 'central directory offset')
    cdEnd = recordOffset
  } else if (entries === U16_MAX || cdSize === U32_MAX || cdOffset === U32_MAX) {
    throw new ZipFormatError('end record needs zip64 values but there is no zip64 end of central directory locator')
  }

  if (disk !== 0 || cdDisk !== 0 || entriesOnDisk !== entries) {
    throw new ZipFormatError('multi-disk (split) zip archives are not supported')
  }
  if (entries > ZIP_LIMITS.maxEntries) {
    throw new ZipFormatError(`${entries} members, over the limit of ${ZIP_LIMITS.maxEntries}`)
  }
  if (cdSize > ZIP_LIMITS.maxCentralDirectoryBytes) {
    throw new ZipFormatError(`central directory of ${cdSize} bytes is over the 16 MiB limit`)
  }
  if (cdOffset + cdSize !== cdEnd) {
    throw new ZipFormatError(
      `central directory (offset ${cdOffset}, ${cdSize} bytes) does not end where the end record is (offset ${cdEnd}): truncated, or data before or after the archive`,
    )
  }

  const cd = await readAt(fh, cdOffset, cdSize)
  return { entries: parseCentralDirectory(cd, entries), centralDirectoryOffset: cdOffset, zip64 }
}

function parseCentralDirectory(cd: Buffer, count: number): ZipEntry[] {
  const out: ZipEntry[] = []
  let p = 0
  for (let i = 0; i < count; i++) {
    const where = `central directory entry ${i}`
    if (p + 46 > cd.length) throw new ZipFormatError(`${where} runs past the end of the central directory`)
    if (cd.readUInt32LE(p) !== SIG_CENTRAL) throw new ZipFormatError(`${where} is corrupt (bad signature)`)
    const flags = cd.readUInt16LE(p + 8)
    const method = cd.readUInt16LE(p + 10)
    const crc32 = cd.readUInt32LE(p + 16)
    let compressedSize = cd.readUInt32LE(p + 20)
    let uncompressedSize = cd.readUInt32LE(p + 24)
    const nameLength = cd.readUInt16LE(p + 28)
    const extraLength = cd.readUInt16LE(p + 30)
    const commentLength = cd.readUInt16LE(p + 32)
    let diskStart = cd.readUInt16LE(p + 34)
    let localHeaderOffset = cd.readUInt32LE(p + 42)
    const end = p + 46 + nameLength + extraLength + commentLength
    if (end > cd.length) throw new ZipFormatError(`${where} runs past the end of the central directory`)
    if (nameLength === 0) throw new ZipFormatError(`${where} has an empty name`)
    if (nameLength > ZIP_LIMITS.maxNameBytes) {
      throw new ZipFormatError(`${where} has a ${nameLength}-byte name, over the ${ZIP_LIMITS.maxNameBytes}-byte limit`)
    }
    let name: string
    try {
      name = utf8.decode(cd.subarray(p + 46, p + 46 + nameLength))
    } catch {
      throw new ZipFormatError(`${where} has a name that is not valid UTF-8`)
    }
    const extra = cd.subarray(p + 46 + nameLength, p + 46 + nameLength + extraLength)
    const needs = {
      uncompressed: uncompressedSize === U32_MAX,
      compressed: compressedSize === U32_MAX,
      offset: localHeaderOffset === U32_MAX,
      disk: diskStart === U16_MAX,
    }
    if (needs.uncompressed || needs.compressed || needs.offset || needs.disk) {
      const z = findExtra(extra, 0x0001, `member '${name}'`)
      if (z == null) throw new ZipFormatError(`member '${name}': sizes need a zip64 extra field but there is none`)
      let q = 0
      const take = (what: string): number => {
        if (q + 8 > z.length) throw new ZipFormatError(`member '${name}': zip64 extra field is too short for the ${what}`)
        const v = u64(z, q, `member '${name}': ${what}`)
        q += 8
        return v
      }
      if (needs.uncompressed) uncompressedSize = take('uncompressed size')
      if (needs.compressed) compressedSize = take('compressed size')
      if (needs.offset) localHeaderOffset = take('local header offset')
      if (needs.disk) {
        if (q + 4 > z.length) throw new ZipFormatError(`member '${name}': zip64 extra field is too short for the disk number`)
        diskStart = z.readUInt32LE(q)
      }
    } else {
      findExtra(extra, 0x0001, `member '${name}'`) // still checks the extra block is well formed
    }
    if (diskStart !== 0) throw new ZipFormatError('multi-disk (split) zip archives are not supported')
    if (flags & (FLAG_ENCRYPTED | FLAG_STRONG_ENCRYPTION)) throw new ZipFormatError(`member '${name}' is encrypted`)
    out.push({ name, method, flags, crc32, compressedSize, uncompressedSize, localHeaderOffset })
    p = end
  }
  if (p !== cd.length) throw new ZipFormatError(`central directory has ${cd.length - p} bytes after its last entry`)
  return out
}

/** Walks an extra-field block; returns the body of the field with `id`, checking the block is well formed. */
function findExtra(extra: Buffer, id: number, who: string): Buffer | undefined {
  let found: Buffer | undefined
  let p = 0
  while (p < extra.length) {
    if (p + 4 > extra.length) throw new ZipFormatError(`${who}: malformed extra field`)
    const fieldId = extra.readUInt16LE(p)
    const size = extra.readUInt16LE(p + 2)
    if (p + 4 + size > extra.length) throw new ZipFormatError(`${who}: malformed extra field`)
    if (fieldId === id && found == null) found = extra.subarray(p + 4, p + 4 + size)
    p += 4 + size
  }
  return found
}

/**
 * Reads and checks one member's local header against its central directory
 * entry and returns where its data starts. Member data must end before
 * `dataLimit` (the central directory offset).
 */
export async function locateEntry(fh: FileHandle, entry: ZipEntry, dataLimit: number): Promise<LocatedZipEntry> {
  const who = `member '${entry.name}'`
  if (entry.localHeaderOffset + 30 > dataLimit) throw new ZipFormatError(`${who}: local header offset is past the member data area`)
  const head = await readAt(fh, entry.localHeaderOffset, 30)
  if (head.readUInt32LE(0) !== SIG_LOCAL) {
    throw new ZipFormatError(`${who}: no local header at offset ${entry.localHeaderOffset}`)
  }
  const flags = head.readUInt16LE(6)
  const method = head.readUInt16LE(8)
  const crc32 = head.readUInt32LE(14)
  let compressedSize = head.readUInt32LE(18)
  let uncompressedSize = head.readUInt32LE(22)
  const nameLength = head.readUInt16LE(26)
  const extraLength = head.readUInt16LE(28)
  const rest = entry.localHeaderOffset + 30 + nameLength + extraLength
  if (rest > dataLimit) throw new ZipFormatError(`${who}: local header runs past the member data area`)
  const nameAndExtra = await readAt(fh, entry.localHeaderOffset + 30, nameLength + extraLength)
  const cdName = Buffer.from(entry.name, 'utf8')
  if (!cdName.equals(nameAndExtra.subarray(0, nameLength))) {
    throw new ZipFormatError(`${who}: local header names a different file than the central directory`)
  }
  if (method !== entry.method) throw new ZipFormatError(`${who}: local header and central directory disagree on the compression method`)
  if ((flags & FLAG_DATA_DESCRIPTOR) === 0) {
    const extra = nameAndExtra.subarray(nameLength)
    if (compressedSize === U32_MAX || uncompressedSize === U32_MAX) {
      // APPNOTE 4.5.3: in a local header the zip64 field holds both sizes, uncompressed first
      const z = findExtra(extra, 0x0001, who)
      if (z == null || z.length < 16) throw new ZipFormatError(`${who}: local header needs a zip64 extra field with both sizes`)
      uncompressedSize = u64(z, 0, `${who}: uncompressed size`)
      compressedSize = u64(z, 8, `${who}: compressed size`)
    } else {
      findExtra(extra, 0x0001, who)
    }
    if (crc32 !== entry.crc32 || compressedSize !== entry.compressedSize || uncompressedSize !== entry.uncompressedSize) {
      throw new ZipFormatError(`${who}: local header and central directory disagree on CRC or sizes`)
    }
  }
  if (rest + entry.compressedSize > dataLimit) {
    throw new ZipFormatError(`${who}: data runs past the start of the central directory (truncated?)`)
  }
  return { ...entry, dataOffset: rest }
}

/** Rejects members whose headers or data overlap (a zip-bomb trick, never written by zip tools). */
export function checkNoOverlap(entries: readonly LocatedZipEntry[]): void {
  const sorted = [...entries].sort((a, b) => a.localHeaderOffset - b.localHeaderOffset)
  for (let i = 1; i < sorted.length; i++) {
    const a = sorted[i - 1]!
    const b = sorted[i]!
    if (a.dataOffset + a.compressedSize > b.localHeaderOffset) {
      throw new ZipFormatError(`members '${a.name}' and '${b.name}' overlap`)
    }
  }
}

export interface MemberReadOptions {
  signal?: AbortSignal
  /** Bytes of member data read from the file at a time (default 1 MiB). */
  readChunk?: number
}

/**
 * Streams a member's uncompressed bytes. Memory stays bounded by a few read
 * and inflate chunks whatever the member size. A stored member's chunks are
 * views of one reused buffer: they are valid only until the next iteration
 * (copy what you keep). Breaking out of the loop stops reading and inflating.
 * Corrupt deflate data throws ZipFormatError; I/O errors and aborts pass through.
 */
export async function* memberData(
  fh: FileHandle,
  entry: LocatedZipEntry,
  opts: MemberReadOptions = {},
): AsyncGenerator<Uint8Array, void, undefined> {
  const chunk = opts.readChunk ?? 1024 * 1024
  if (entry.method === 0) {
    if (entry.compressedSize !== entry.uncompressedSize) {
      throw new ZipFormatError(`member '${entry.name}': stored, but its compressed and uncompressed sizes differ`)
    }
    yield* readRange(fh, entry.dataOffset, entry.compressedSize, chunk, opts.signal, true)
    return
  }
  if (entry.method !== 8) throw new ZipFormatError(`member '${entry.name}': compression method ${entry.method} is not supported`)
  const inflate = createInflateRaw({ chunkSize: 64 * 1024 })
  const source = Readable.from(readRange(fh, entry.dataOffset, entry.compressedSize, chunk, opts.signal, false), {
    objectMode: false,
  })
  // errors of the source reach the consumer through `inflate`, which pipeline destroys with them
  pipeline(source, inflate, () => {})
  try {
    for await (const out of inflate) yield out as Buffer
  } catch (err) {
    const code = (err as { code?: unknown }).code
    if (typeof code === 'string' && code.startsWith('Z_')) {
      throw new ZipFormatError(`member '${entry.name}': deflate data is corrupt (${(err as Error).message})`)
    }
    throw err
  } finally {
    source.destroy()
    inflate.destroy()
  }
}

async function* readRange(
  fh: FileHandle,
  start: number,
  length: number,
  chunk: number,
  signal: AbortSignal | undefined,
  reuse: boolean,
): AsyncGenerator<Buffer, void, undefined> {
  const shared = reuse ? Buffer.allocUnsafe(Math.max(1, Math.min(chunk, length))) : undefined
  let pos = start
  let left = length
  while (left > 0) {
    signal?.throwIfAborted()
    const n = Math.min(chunk, left)
    const buf = shared ?? Buffer.allocUnsafe(n)
    const { bytesRead } = await fh.read(buf, 0, n, pos)
    if (bytesRead === 0) throw new ZipFormatError(`unexpected end of file at offset ${pos}`)
    yield buf.subarray(0, bytesRead)
    pos += bytesRead
    left -= bytesRead
  }
}
