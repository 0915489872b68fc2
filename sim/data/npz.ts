import { crc32 } from 'node:zlib'
import { byteStream } from '../harness/prng.js'
import { floatsFrom, writeAtomically, type PositionalWriter } from './write.js'

/** Training samples: `features` (n, PLANES, BOARD, BOARD) float32 and `values` (n, 2) float32, as the trainer writes them. */
export const PLANES = 16
export const BOARD = 9
const FEATURE_BYTES = PLANES * BOARD * BOARD * 4
const VALUE_BYTES = 2 * 4

/** How many samples make an NPZ of about `size` bytes (at least 1). */
export function samplesFor(size: number): number {
  return Math.max(1, Math.floor((size - 600) / (FEATURE_BYTES + VALUE_BYTES)))
}

/** A .npy header for a little-endian float32 C-order array, padded so the data starts at a multiple of 64. */
export function npyHeader(shape: number[]): Buffer {
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`
  let dict = `{'descr': '<f4', 'fortran_order': False, 'shape': ${shapeText}, }`
  const total = Math.ceil((10 + dict.length + 1) / 64) * 64
  dict = dict + ' '.repeat(total - 10 - dict.length - 1) + '\n'
  const head = Buffer.alloc(10)
  Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]).copy(head)
  head.writeUInt16LE(dict.length, 8)
  return Buffer.concat([head, Buffer.from(dict, 'latin1')])
}

/**
 * Writes a valid NPZ (a stored zip of features.npy and values.npy, the
 * layout numpy.savez writes) of about `size` bytes. The bytes depend only on
 * (seed, label, size). Returns the sample count.
 */
export async function writeNpz(path: string, size: number, seed: number, label: string): Promise<number> {
  const n = samplesFor(size)
  const random = byteStream(seed, `npz:${label}`)
  await writeAtomically(path, async (w) => {
    const central: Buffer[] = []
    await member(w, central, 'features.npy', npyHeader([n, PLANES, BOARD, BOARD]), n * FEATURE_BYTES, (k) => floatsFrom(random.next(k)))
    await member(w, central, 'values.npy', npyHeader([n, 2]), n * VALUE_BYTES, (k) => floatsFrom(random.next(k)))
    const cdOffset = w.offset
    const cd = Buffer.concat(central)
    await w.write(cd)
    const eocd = Buffer.alloc(22)
    eocd.writeUInt32LE(0x06054b50, 0)
    eocd.writeUInt16LE(central.length / 2, 8)
    eocd.writeUInt16LE(central.length / 2, 10)
    eocd.writeUInt32LE(cd.length, 12)
    eocd.writeUInt32LE(cdOffset, 16)
    await w.write(eocd)
  })
  return n
}

async function member(w: PositionalWriter, central: Buffer[], name: string, header: Buffer, dataBytes: number, data: (n: number) => Buffer): Promise<void> {
  const start = w.offset
  const nameBuf = Buffer.from(name)
  const size = header.length + dataBytes
  if (size >= 0xffffffff) throw new Error(`npz member ${name} of ${size} bytes needs zip64; use a smaller size`)
  const local = Buffer.alloc(30)
  local.writeUInt32LE(0x04034b50, 0)
  local.writeUInt16LE(20, 4)
  local.writeUInt16LE(0x21, 12)
  local.writeUInt16LE(nameBuf.length, 26)
  await w.write(local)
  await w.write(nameBuf)
  let crc = crc32(header)
  await w.write(header)
  for (let left = dataBytes; left > 0; ) {
    const piece = data(Math.min(left, 1 << 20))
    crc = crc32(piece, crc)
    await w.write(piece)
    left -= piece.length
  }
  local.writeUInt32LE(crc, 14)
  local.writeUInt32LE(size, 18)
  local.writeUInt32LE(size, 22)
  await w.writeAt(local, start)
  const cd = Buffer.alloc(46)
  cd.writeUInt32LE(0x02014b50, 0)
  cd.writeUInt16LE(0x031e, 4)
  cd.writeUInt16LE(20, 6)
  cd.writeUInt16LE(0x21, 14)
  cd.writeUInt32LE(crc, 16)
  cd.writeUInt32LE(size, 20)
  cd.writeUInt32LE(size, 24)
  cd.writeUInt16LE(nameBuf.length, 28)
  cd.writeUInt32LE(0x81a40000 >>> 0, 38)
  cd.writeUInt32LE(start, 42)
  central.push(cd, nameBuf)
}
