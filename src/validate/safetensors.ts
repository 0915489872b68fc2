import { type FileHandle, open } from 'node:fs/promises'
import { quoted } from './text.js'
import type { Verdict } from './types.js'

/**
 * safetensors checkpoints: u64 little-endian header length N, N bytes of
 * UTF-8 JSON, then the data section. Every tensor's byte range must match its
 * dtype and shape, and the ranges must tile the data section exactly (no
 * overlap, no gap, nothing after the last tensor), as the reference
 * implementation requires. Only the bounded header is read; JSON.parse only
 * sees it.
 */

export const SAFETENSORS_MAX_HEADER = 100 * 1024 * 1024

/** Element sizes in bits (the reference implementation's Dtype::bitsize). */
const DTYPE_BITS: Record<string, number> = {
  BOOL: 8,
  F4: 4,
  F6_E2M3: 6,
  F6_E3M2: 6,
  U8: 8,
  I8: 8,
  F8_E5M2: 8,
  F8_E4M3: 8,
  F8_E8M0: 8,
  I16: 16,
  U16: 16,
  F16: 16,
  BF16: 16,
  I32: 32,
  U32: 32,
  F32: 32,
  C64: 64,
  F64: 64,
  I64: 64,
  U64: 64,
}

const utf8 = new TextDecoder('utf-8', { fatal: true })

class Invalid extends Error {}

export async function validateSafetensors(path: string, opts: { signal?: AbortSignal } = {}): Promise<Verdict> {
  opts.signal?.throwIfAborted()
  const fh = await open(path, 'r')
  try {
    const { size } = await fh.stat()
    const tensors = await check(fh, size)
    return { ok: true, kind: 'model', facts: { kind: 'model', format: 'safetensors', tensors } }
  } catch (err) {
    if (err instanceof Invalid) return { ok: false, kind: 'model', reason: `safetensors: ${err.message}` }
    throw err
  } finally {
    await fh.close()
  }
}

async function check(fh: FileHandle, size: number): Promise<number> {
  if (size < 8) throw new Invalid(`file of ${size} bytes is shorter than the 8-byte header length`)
  const lenBuf = Buffer.alloc(8)
  await readFully(fh, lenBuf, 0)
  const n = lenBuf.readBigUInt64LE(0)
  if (n > BigInt(SAFETENSORS_MAX_HEADER)) throw new Invalid(`header length ${n} is over the 100 MiB limit`)
  const headerLength = Number(n)
  if (8 + headerLength > size) {
    throw new Invalid(`header length ${headerLength} runs past the end of the ${size}-byte file`)
  }
  if (headerLength < 2) throw new Invalid(`header length ${headerLength} is too small for a JSON object`)
  const raw = Buffer.alloc(headerLength)
  await readFully(fh, raw, 8)
  let text: string
  try {
    text = utf8.decode(raw)
  } catch {
    throw new Invalid('header is not valid UTF-8')
  }
  if (!text.startsWith('{')) throw new Invalid("header does not start with '{'")
  let header: unknown
  try {
    header = JSON.parse(text)
  } catch (err) {
    throw new Invalid(`header is not valid JSON (${(err as Error).message})`)
  }
  if (!isPlainObject(header)) throw new Invalid('header is not a JSON object')

  const dataSize = size - 8 - headerLength
  const ranges: { name: string; begin: number; end: number }[] = []
  for (const [name, info] of Object.entries(header)) {
    if (name === '__metadata__') {
      if (!isPlainObject(info) || !Object.values(info).every((v) => typeof v === 'string')) {
        throw new Invalid('__metadata__ must map strings to strings')
      }
      continue
    }
    ranges.push(checkTensor(name, info, dataSize))
  }
  ranges.sort((a, b) => a.begin - b.begin || a.end - b.end)
  let cursor = 0
  let previous: string | undefined
  for (const r of ranges) {
    if (r.begin < cursor) throw new Invalid(`tensors ${show(previous!)} and ${show(r.name)} overlap`)
    if (r.begin > cursor) {
      throw new Invalid(`data bytes ${cursor}..${r.begin} belong to no tensor (the data section must be fully covered)`)
    }
    cursor = r.end
    previous = r.name
  }
  if (cursor !== dataSize) {
    throw new Invalid(
      `the data section has ${dataSize - cursor} bytes after the last tensor (${dataSize} bytes, tensors cover ${cursor})`,
    )
  }
  return ranges.length
}

function checkTensor(name: string, info: unknown, dataSize: number): { name: string; begin: number; end: number } {
  const who = `tensor ${show(name)}`
  if (!isPlainObject(info)) throw new Invalid(`${who}: not an object`)
  for (const key of Object.keys(info)) {
    if (key !== 'dtype' && key !== 'shape' && key !== 'data_offsets') throw new Invalid(`${who}: unexpected key ${show(key)}`)
  }
  const { dtype, shape, data_offsets: offsets } = info as { dtype?: unknown; shape?: unknown; data_offsets?: unknown }
  if (typeof dtype !== 'string') throw new Invalid(`${who}: dtype missing or not a string`)
  const bits = Object.hasOwn(DTYPE_BITS, dtype) ? DTYPE_BITS[dtype] : undefined
  if (bits == null) throw new Invalid(`${who}: unknown dtype ${show(dtype)}`)
  if (!Array.isArray(shape) || !shape.every(isCount)) throw new Invalid(`${who}: shape must be an array of non-negative integers`)
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isCount)) {
    throw new Invalid(`${who}: data_offsets must be [begin, end] with non-negative integers`)
  }
  const [begin, end] = offsets as [number, number]
  if (end < begin) throw new Invalid(`${who}: data_offsets [${begin}, ${end}] end before they begin`)
  if (end > dataSize) throw new Invalid(`${who}: data_offsets end ${end} is past the ${dataSize}-byte data section`)
  let elements = 1n
  for (const d of shape as number[]) elements *= BigInt(d)
  const totalBits = elements * BigInt(bits)
  if (totalBits % 8n !== 0n) throw new Invalid(`${who}: ${elements} elements of ${dtype} are not a whole number of bytes`)
  const needed = totalBits / 8n
  if (BigInt(end - begin) !== needed) {
    throw new Invalid(
      `${who}: data_offsets [${begin}, ${end}] hold ${end - begin} bytes, but ${dtype} [${(shape as number[]).join(', ')}] needs ${needed}`,
    )
  }
  return { name, begin, end }
}

async function readFully(fh: FileHandle, buf: Buffer, position: number): Promise<void> {
  let done = 0
  while (done < buf.length) {
    const { bytesRead } = await fh.read(buf, done, buf.length - done, position + done)
    if (bytesRead === 0) throw new Invalid(`unexpected end of file at offset ${position + done}`)
    done += bytesRead
  }
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

function isCount(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0
}

function show(s: string): string {
  return quoted(s)
}
