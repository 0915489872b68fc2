import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { validateFile } from '../../src/validate/index.js'
import type { Verdict } from '../../src/validate/types.js'
import { tempDir } from './helpers.js'

let tmp: { dir: string; cleanup: () => Promise<void> }
beforeAll(async () => {
  tmp = await tempDir()
})
afterAll(async () => {
  await tmp.cleanup()
})

/** A safetensors file: u64 LE header length, JSON header padded with spaces to 8 bytes, data. */
function safetensors(header: unknown, dataBytes: number, rawHeader?: string): Buffer {
  let text = rawHeader ?? JSON.stringify(header)
  text += ' '.repeat((8 - (Buffer.byteLength(text) % 8)) % 8)
  const len = Buffer.alloc(8)
  len.writeBigUInt64LE(BigInt(Buffer.byteLength(text)))
  return Buffer.concat([len, Buffer.from(text), Buffer.alloc(dataBytes, 1)])
}

let n = 0
async function check(bytes: Uint8Array, name = `m${n++}.safetensors`): Promise<Verdict> {
  const path = join(tmp.dir, name)
  await writeFile(path, bytes)
  return validateFile(path, 'model')
}
async function reason(bytes: Uint8Array): Promise<string> {
  const v = await check(bytes)
  if (v.ok) throw new Error(`expected invalid, got ${JSON.stringify(v)}`)
  return v.reason
}

const good = {
  __metadata__: { format: 'pt' },
  'a.weight': { dtype: 'F32', shape: [2, 3], data_offsets: [0, 24] },
  'a.bias': { dtype: 'BF16', shape: [3], data_offsets: [24, 30] },
  empty: { dtype: 'I64', shape: [0, 4], data_offsets: [30, 30] },
  packed: { dtype: 'F4', shape: [4], data_offsets: [30, 32] },
}

describe('safetensors', () => {
  it('valid: tensors tile the data section exactly, in any header order', async () => {
    expect(await check(safetensors(good, 32))).toEqual({ ok: true, kind: 'model', facts: { kind: 'model', format: 'safetensors', tensors: 4 } })
    expect(await check(safetensors({}, 0))).toMatchObject({ ok: true, facts: { tensors: 0 } })
  })

  it('header length over 100 MiB, past the end of the file, or shorter than 8 bytes', async () => {
    const big = Buffer.alloc(16)
    big.writeBigUInt64LE(100n * 1024n * 1024n + 1n)
    expect(await reason(big)).toBe('safetensors: header length 104857601 is over the 100 MiB limit')
    const past = safetensors(good, 32)
    past.writeBigUInt64LE(BigInt(past.length))
    expect(await reason(past)).toMatch(/^safetensors: header length \d+ runs past the end of the \d+-byte file$/)
    expect(await reason(Buffer.alloc(5))).toBe('safetensors: file of 5 bytes is shorter than the 8-byte header length')
  })

  it('header must be UTF-8 JSON object', async () => {
    expect(await reason(safetensors(null, 0, '{"a": '))).toMatch(/^safetensors: header is not valid JSON/)
    expect(await reason(safetensors(null, 0, '[1, 2]'))).toBe("safetensors: header does not start with '{'")
    const bad = safetensors(null, 0, '{"\xff": 1}')
    bad[10] = 0xff
    expect(await reason(bad)).toBe('safetensors: header is not valid UTF-8')
  })

  it('__metadata__ must map strings to strings', async () => {
    expect(await reason(safetensors({ ...good, __metadata__: { step: 12 } }, 32))).toBe('safetensors: __metadata__ must map strings to strings')
  })

  it('tensor entries: dtype, shape, offsets, size', async () => {
    const cases: [unknown, string][] = [
      [{ dtype: 'F33', shape: [1], data_offsets: [0, 4] }, "tensor 't': unknown dtype 'F33'"],
      [{ dtype: 'F32', shape: [-1], data_offsets: [0, 4] }, "tensor 't': shape must be an array of non-negative integers"],
      [{ dtype: 'F32', shape: [1.5], data_offsets: [0, 4] }, "tensor 't': shape must be an array of non-negative integers"],
      [{ dtype: 'F32', shape: [1], data_offsets: [0] }, "tensor 't': data_offsets must be [begin, end] with non-negative integers"],
      [{ dtype: 'F32', shape: [1], data_offsets: [4, 0] }, "tensor 't': data_offsets [4, 0] end before they begin"],
      [{ dtype: 'F32', shape: [2], data_offsets: [0, 4] }, "tensor 't': data_offsets [0, 4] hold 4 bytes, but F32 [2] needs 8"],
      [{ dtype: 'F32', shape: [1], data_offsets: [0, 8] }, "tensor 't': data_offsets end 8 is past the 4-byte data section"],
      [{ dtype: 'F4', shape: [3], data_offsets: [0, 4] }, "tensor 't': 3 elements of F4 are not a whole number of bytes"],
      [{ dtype: 'F32', shape: [1], data_offsets: [0, 4], extra: 1 }, "tensor 't': unexpected key 'extra'"],
      [[1, 2], "tensor 't': not an object"],
    ]
    for (const [info, want] of cases) expect(await reason(safetensors({ t: info }, 4))).toBe(`safetensors: ${want}`)
  })

  it('overlaps, gaps and uncovered trailing bytes are invalid', async () => {
    const overlap = { a: { dtype: 'U8', shape: [4], data_offsets: [0, 4] }, b: { dtype: 'U8', shape: [4], data_offsets: [2, 6] } }
    expect(await reason(safetensors(overlap, 6))).toBe("safetensors: tensors 'a' and 'b' overlap")
    const gap = { a: { dtype: 'U8', shape: [2], data_offsets: [0, 2] }, b: { dtype: 'U8', shape: [2], data_offsets: [4, 6] } }
    expect(await reason(safetensors(gap, 6))).toBe('safetensors: data bytes 2..4 belong to no tensor (the data section must be fully covered)')
    expect(await reason(safetensors(good, 33))).toBe('safetensors: the data section has 1 bytes after the last tensor (33 bytes, tensors cover 32)')
  })

  it('other model formats are accepted as unknown; safetensors content is sniffed in .bin files', async () => {
    expect(await check(Buffer.from('PK\x03\x04 a torch zip'), 'model.pt')).toEqual({ ok: true, kind: 'model', facts: { kind: 'model', format: 'unknown' } })
    expect(await check(safetensors(good, 32), 'model.bin')).toMatchObject({ ok: true, facts: { format: 'safetensors', tensors: 4 } })
    const v = await check(safetensors(good, 31), 'model.bin')
    expect(v.ok).toBe(false)
  })

  it('a missing file throws (an I/O error, not a verdict)', async () => {
    await expect(validateFile(join(tmp.dir, 'absent.safetensors'), 'model')).rejects.toMatchObject({ code: 'ENOENT' })
    await expect(validateFile(join(tmp.dir, 'absent.npz'), 'npz')).rejects.toMatchObject({ code: 'ENOENT' })
    await expect(validateFile(join(tmp.dir, 'absent.db'), 'sqlite')).rejects.toMatchObject({ code: 'ENOENT' })
    await expect(validateFile(join(tmp.dir, 'absent.txt'), 'other')).rejects.toMatchObject({ code: 'ENOENT' })
  })

  it('an aborted signal throws', async () => {
    const path = join(tmp.dir, 'abort.safetensors')
    await writeFile(path, safetensors(good, 32))
    await expect(validateFile(path, 'model', { signal: AbortSignal.abort() })).rejects.toMatchObject({ name: 'AbortError' })
  })
})
