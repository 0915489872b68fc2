import { mkdtemp, open, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { crc32, createDeflateRaw, deflateRawSync } from 'node:zlib'

/** Test helpers: a tiny zip writer (stored/deflate, optional zip64 records) and a .npy builder. */

export { FIXTURES } from '../helpers/fixtures.js'

export async function tempDir(prefix = 'meshsync-validate-'): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), prefix))
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) }
}

export interface NpyOptions {
  fortran?: boolean | string
  version?: 1 | 2 | 3
  /** Replace the whole dict literal (for malformed headers). */
  literal?: string
  /** Extra spaces in the header (to make it large). */
  pad?: number
  /** Data bytes; default: zeros of the size the shape needs (itemsize from descr digits). */
  data?: Uint8Array
}

/** Builds a .npy file: header padded so that the data starts at a multiple of 64, as numpy does. */
export function npy(descr: string, shape: number[], opts: NpyOptions = {}): Buffer {
  const version = opts.version ?? 1
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`
  const fortran = opts.fortran === undefined ? 'False' : typeof opts.fortran === 'boolean' ? (opts.fortran ? 'True' : 'False') : opts.fortran
  let dict = opts.literal ?? `{'descr': '${descr}', 'fortran_order': ${fortran}, 'shape': ${shapeText}, }`
  dict += ' '.repeat(opts.pad ?? 0)
  const preamble = version === 1 ? 10 : 12
  const enc = version === 3 ? 'utf8' : 'latin1'
  let len = Buffer.byteLength(dict, enc) + 1
  const total = Math.ceil((preamble + len) / 64) * 64
  dict += ' '.repeat(total - preamble - len)
  dict += '\n'
  len = Buffer.byteLength(dict, enc)
  const head = Buffer.alloc(preamble)
  Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, version, 0]).copy(head)
  if (version === 1) head.writeUInt16LE(len, 8)
  else head.writeUInt32LE(len, 8)
  let data = opts.data
  if (data == null) {
    const itemsize = Number(/(\d+)$/.exec(descr)?.[1] ?? '1')
    data = Buffer.alloc(shape.reduce((a, b) => a * b, 1) * itemsize)
  }
  return Buffer.concat([head, Buffer.from(dict, enc), data])
}

export interface ZipMember {
  name: string
  data: Uint8Array
  method?: 0 | 8
  /** Override the CRC written in both headers. */
  crc?: number
  flags?: number
  /** Write local header CRC/sizes as zero and rely on the central directory (flag bit 3). */
  dataDescriptor?: boolean
}

export interface ZipOptions {
  /** zip64 extra fields in local and central headers, and zip64 end records. */
  zip64?: boolean
  /** Bytes after the end record. */
  trailing?: Uint8Array
}

/** Builds a whole zip in memory (small test archives only). */
export function buildZip(members: ZipMember[], opts: ZipOptions = {}): Buffer {
  const parts: Buffer[] = []
  const central: Buffer[] = []
  let offset = 0
  for (const m of members) {
    const method = m.method ?? 0
    const body = method === 8 ? deflateRawSync(m.data) : Buffer.from(m.data)
    const crc = m.crc ?? crc32(m.data)
    const name = Buffer.from(m.name, 'utf8')
    const flags = (m.flags ?? 0) | (m.dataDescriptor ? 0x08 : 0) | 0x0800
    const local = Buffer.alloc(30)
    local.writeUInt32LE(0x04034b50, 0)
    local.writeUInt16LE(opts.zip64 ? 45 : 20, 4)
    local.writeUInt16LE(flags, 6)
    local.writeUInt16LE(method, 8)
    local.writeUInt16LE(0x21, 12)
    let localExtra = Buffer.alloc(0)
    if (m.dataDescriptor) {
      // CRC and sizes follow the data
    } else if (opts.zip64) {
      local.writeUInt32LE(crc, 14)
      local.writeUInt32LE(0xffffffff, 18)
      local.writeUInt32LE(0xffffffff, 22)
      localExtra = Buffer.alloc(20)
      localExtra.writeUInt16LE(1, 0)
      localExtra.writeUInt16LE(16, 2)
      localExtra.writeBigUInt64LE(BigInt(m.data.length), 4)
      localExtra.writeBigUInt64LE(BigInt(body.length), 12)
    } else {
      local.writeUInt32LE(crc, 14)
      local.writeUInt32LE(body.length, 18)
      local.writeUInt32LE(m.data.length, 22)
    }
    local.writeUInt16LE(name.length, 26)
    local.writeUInt16LE(localExtra.length, 28)
    const chunks = [local, name, localExtra, body]
    if (m.dataDescriptor) {
      const dd = Buffer.alloc(16)
      dd.writeUInt32LE(0x08074b50, 0)
      dd.writeUInt32LE(crc, 4)
      dd.writeUInt32LE(body.length, 8)
      dd.writeUInt32LE(m.data.length, 12)
      chunks.push(dd)
    }
    const entryStart = offset
    for (const c of chunks) {
      parts.push(c)
      offset += c.length
    }
    const cd = Buffer.alloc(46)
    cd.writeUInt32LE(0x02014b50, 0)
    cd.writeUInt16LE(0x032d, 4)
    cd.writeUInt16LE(opts.zip64 ? 45 : 20, 6)
    cd.writeUInt16LE(flags, 8)
    cd.writeUInt16LE(method, 10)
    cd.writeUInt16LE(0x21, 14)
    cd.writeUInt32LE(crc, 16)
    let cdExtra = Buffer.alloc(0)
    if (opts.zip64) {
      cd.writeUInt32LE(0xffffffff, 20)
      cd.writeUInt32LE(0xffffffff, 24)
      cd.writeUInt32LE(0xffffffff, 42)
      cdExtra = Buffer.alloc(28)
      cdExtra.writeUInt16LE(1, 0)
      cdExtra.writeUInt16LE(24, 2)
      cdExtra.writeBigUInt64LE(BigInt(m.data.length), 4)
      cdExtra.writeBigUInt64LE(BigInt(body.length), 12)
      cdExtra.writeBigUInt64LE(BigInt(entryStart), 20)
    } else {
      cd.writeUInt32LE(body.length, 20)
      cd.writeUInt32LE(m.data.length, 24)
      cd.writeUInt32LE(entryStart, 42)
    }
    cd.writeUInt16LE(name.length, 28)
    cd.writeUInt16LE(cdExtra.length, 30)
    cd.writeUInt32LE(0x81800000 >>> 0, 38)
    central.push(cd, name, cdExtra)
  }
  const cdOffset = offset
  const cdBuf = Buffer.concat(central)
  parts.push(cdBuf)
  offset += cdBuf.length
  parts.push(endRecords(members.length, cdBuf.length, cdOffset, offset, opts.zip64 ?? false))
  if (opts.trailing) parts.push(Buffer.from(opts.trailing))
  return Buffer.concat(parts)
}

function endRecords(count: number, cdSize: number, cdOffset: number, at: number, zip64: boolean): Buffer {
  const eocd = Buffer.alloc(22)
  eocd.writeUInt32LE(0x06054b50, 0)
  if (!zip64) {
    eocd.writeUInt16LE(count, 8)
    eocd.writeUInt16LE(count, 10)
    eocd.writeUInt32LE(cdSize, 12)
    eocd.writeUInt32LE(cdOffset, 16)
    return eocd
  }
  const rec = Buffer.alloc(56)
  rec.writeUInt32LE(0x06064b50, 0)
  rec.writeBigUInt64LE(44n, 4)
  rec.writeUInt16LE(45, 12)
  rec.writeUInt16LE(45, 14)
  rec.writeBigUInt64LE(BigInt(count), 24)
  rec.writeBigUInt64LE(BigInt(count), 32)
  rec.writeBigUInt64LE(BigInt(cdSize), 40)
  rec.writeBigUInt64LE(BigInt(cdOffset), 48)
  const loc = Buffer.alloc(20)
  loc.writeUInt32LE(0x07064b50, 0)
  loc.writeBigUInt64LE(BigInt(at), 8)
  loc.writeUInt32LE(1, 16)
  eocd.writeUInt16LE(0xffff, 8)
  eocd.writeUInt16LE(0xffff, 10)
  eocd.writeUInt32LE(0xffffffff, 12)
  eocd.writeUInt32LE(0xffffffff, 16)
  return Buffer.concat([rec, loc, eocd])
}

/** A minimal valid NPZ: features (n, 3) float32, values (n, 2) float32. */
export function minimalNpz(n = 4, opts: { method?: 0 | 8; zip64?: boolean } = {}): Buffer {
  return buildZip(
    [
      { name: 'features.npy', data: npy('<f4', [n, 3]), method: opts.method },
      { name: 'values.npy', data: npy('<f4', [n, 2]), method: opts.method },
    ],
    { zip64: opts.zip64 },
  )
}

/**
 * Writes a large NPZ straight to disk without holding it in memory:
 * features (samples, 16, 32, 32) float32 (64 KiB per sample) and values
 * (samples, 2). Stored, or deflated as a stream (the data is a repeating
 * pattern, so it compresses well). Sizes and CRC are patched into the local
 * header after the data is written. Returns the file size.
 */
export async function writeLargeNpz(path: string, samples: number, method: 0 | 8 = 0): Promise<number> {
  const fh = await open(path, 'w')
  try {
    let offset = 0
    const central: Buffer[] = []
    const write = async (b: Uint8Array) => {
      await fh.write(b, 0, b.length, offset)
      offset += b.length
    }
    const members: { name: string; header: Buffer; dataBytes: number }[] = [
      { name: 'features.npy', header: npy('<f4', [samples, 16, 32, 32], { data: new Uint8Array(0) }), dataBytes: samples * 16 * 32 * 32 * 4 },
      { name: 'values.npy', header: npy('<f4', [samples, 2], { data: new Uint8Array(0) }), dataBytes: samples * 2 * 4 },
    ]
    const pattern = Buffer.alloc(1024 * 1024)
    for (let i = 0; i < pattern.length; i += 4) pattern.writeFloatLE(((i * 7919) % 977) / 977, i)
    for (const m of members) {
      const start = offset
      const name = Buffer.from(m.name)
      const size = m.header.length + m.dataBytes
      const local = Buffer.alloc(30)
      local.writeUInt32LE(0x04034b50, 0)
      local.writeUInt16LE(20, 4)
      local.writeUInt16LE(method, 8)
      local.writeUInt16LE(name.length, 26)
      await write(local)
      await write(name)
      const dataStart = offset
      let crc = 0
      const deflate = method === 8 ? createDeflateRaw({ level: 1 }) : undefined
      let chain = Promise.resolve()
      deflate?.on('data', (out: Buffer) => {
        chain = chain.then(() => write(out))
      })
      const ended = deflate ? new Promise<void>((resolve, reject) => deflate.on('end', resolve).on('error', reject)) : undefined
      const put = async (b: Buffer) => {
        crc = crc32(b, crc)
        if (deflate == null) return write(b)
        if (!deflate.write(b)) await new Promise((r) => deflate.once('drain', r))
        await chain
      }
      await put(m.header)
      let left = m.dataBytes
      while (left > 0) {
        const piece = pattern.subarray(0, Math.min(left, pattern.length))
        await put(piece)
        left -= piece.length
      }
      if (deflate) {
        deflate.end()
        await ended
        await chain
      }
      const compressed = offset - dataStart
      local.writeUInt32LE(crc, 14)
      local.writeUInt32LE(compressed, 18)
      local.writeUInt32LE(size, 22)
      await fh.write(local, 0, 30, start)
      const cd = Buffer.alloc(46)
      cd.writeUInt32LE(0x02014b50, 0)
      cd.writeUInt16LE(20, 6)
      cd.writeUInt16LE(method, 10)
      cd.writeUInt32LE(crc, 16)
      cd.writeUInt32LE(compressed, 20)
      cd.writeUInt32LE(size, 24)
      cd.writeUInt16LE(name.length, 28)
      cd.writeUInt32LE(start, 42)
      central.push(cd, name)
    }
    const cdOffset = offset
    const cdBuf = Buffer.concat(central)
    await write(cdBuf)
    await write(endRecords(members.length, cdBuf.length, cdOffset, offset, false))
    return offset
  } finally {
    await fh.close()
  }
}
