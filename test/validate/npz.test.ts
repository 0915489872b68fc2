import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { validateFile } from '../../src/validate/index.js'
import { NpyFormatError, parseNpyHeader } from '../../src/validate/npy-header.js'
import { parsePythonLiteral } from '../../src/validate/py-literal.js'
import type { Depth, Verdict } from '../../src/validate/types.js'
import { buildZip, minimalNpz, npy, tempDir, type ZipMember } from './helpers.js'

let tmp: { dir: string; cleanup: () => Promise<void> }
beforeAll(async () => {
  tmp = await tempDir()
})
afterAll(async () => {
  await tmp.cleanup()
})

let n = 0
async function check(bytes: Uint8Array, depth: Depth = 'deep'): Promise<Verdict> {
  const path = join(tmp.dir, `t${n++}.npz`)
  await writeFile(path, bytes)
  return validateFile(path, 'npz', { depth })
}

async function reason(bytes: Uint8Array, depth: Depth = 'deep'): Promise<string> {
  const v = await check(bytes, depth)
  if (v.ok) throw new Error(`expected invalid, got ${JSON.stringify(v)}`)
  return v.reason
}

function arrays(members: Record<string, Buffer>, method: 0 | 8 = 0): ZipMember[] {
  return Object.entries(members).map(([name, data]) => ({ name, data, method }))
}

describe('npz structure', () => {
  for (const method of [0, 8] as const) {
    for (const zip64 of [false, true]) {
      it(`valid: ${method === 0 ? 'stored' : 'deflate'}${zip64 ? ', zip64 local + central + end records' : ''}`, async () => {
        for (const depth of ['deep', 'quick'] as const) {
          const v = await check(minimalNpz(4, { method, zip64 }), depth)
          expect(v).toEqual({
            ok: true,
            kind: 'npz',
            facts: {
              kind: 'npz',
              samples: 4,
              arrays: [
                { name: 'features', dtype: '<f4', shape: [4, 3] },
                { name: 'values', dtype: '<f4', shape: [4, 2] },
              ],
            },
          })
        }
      })
    }
  }

  it('zip64 end records with a broken zip64 record offset are rejected', async () => {
    const zip = minimalNpz(4, { zip64: true })
    const loc = zip.length - 22 - 20
    expect(zip.readUInt32LE(loc)).toBe(0x07064b50)
    zip.writeBigUInt64LE(3n, loc + 8)
    expect(await reason(zip)).toContain('no zip64 end of central directory record at offset 3')
  })

  it('zip64-sized end record without a locator is rejected', async () => {
    const zip = minimalNpz(4)
    zip.writeUInt32LE(0xffffffff, zip.length - 22 + 16)
    expect(await reason(zip)).toContain('no zip64 end of central directory locator')
  })

  it('accepts members written with a data descriptor (CRC and sizes only in the central directory)', async () => {
    const zip = buildZip([
      { name: 'features.npy', data: npy('<f4', [2, 3]), method: 8, dataDescriptor: true },
      { name: 'values.npy', data: npy('<f4', [2]), dataDescriptor: true },
    ])
    expect(await check(zip)).toMatchObject({ ok: true })
  })

  it('empty file, random bytes and trailing bytes after the end record: no central directory', async () => {
    expect(await reason(Buffer.alloc(0))).toBe('npz: no central directory (truncated or not a zip)')
    expect(await reason(Buffer.alloc(21, 7))).toBe('npz: no central directory (truncated or not a zip)')
    expect(await reason(buildZip(arrays({ 'features.npy': npy('<f4', [1]), 'values.npy': npy('<f4', [1]) }), { trailing: Buffer.from('xx') }))).toBe(
      'npz: no central directory (truncated or not a zip)',
    )
  })

  it('data cut off before the central directory is reported', async () => {
    const zip = minimalNpz(4)
    const cdOffset = zip.readUInt32LE(zip.length - 22 + 16)
    // central directory claims a member that starts past the data area
    const cut = Buffer.concat([zip.subarray(0, 40), zip.subarray(cdOffset)])
    cut.writeUInt32LE(40, cut.length - 22 + 16)
    expect(await reason(cut)).toMatch(/local header|past the|no local header/)
  })

  it('rejects path-like member names', async () => {
    const cases: [string, RegExp][] = [
      ['../x.npy', /name contains '\.\.'/],
      ['a/b.npy', /path parts/],
      ['a\\b.npy', /path parts/],
      ['/abs.npy', /path parts/],
      ['C:x.npy', /drive-letter/],
      ['x\u0000.npy', /NUL/],
      ['x\u0007.npy', /control characters/],
      ['notes.txt', /names must end in \.npy/],
      ['.npy', /empty array name/],
    ]
    for (const [name, re] of cases) {
      const zip = buildZip(arrays({ 'features.npy': npy('<f4', [1]), 'values.npy': npy('<f4', [1]), [name]: npy('<f4', [1]) }))
      const r = await reason(zip)
      expect(r).toMatch(re)
      expect(r).toMatch(/^npz member '/)
    }
  })

  it('rejects duplicate members', async () => {
    const zip = buildZip([
      { name: 'features.npy', data: npy('<f4', [1]) },
      { name: 'values.npy', data: npy('<f4', [1]) },
      { name: 'values.npy', data: npy('<f4', [1]) },
    ])
    expect(await reason(zip)).toBe("npz: duplicate member 'values.npy'")
  })

  it('requires features and values; other arrays are allowed', async () => {
    expect(await reason(buildZip(arrays({ 'values.npy': npy('<f4', [1]) })))).toBe("npz: required array 'features' missing")
    expect(await reason(buildZip(arrays({ 'features.npy': npy('<f4', [1]) })))).toBe("npz: required array 'values' missing")
    const v = await check(
      buildZip(
        arrays({
          'features.npy': npy('<f4', [3, 2]),
          'values.npy': npy('<f4', [3]),
          'policy_indices.npy': npy('<i4', [3, 5]),
          'extra_mask.npy': npy('|b1', [3]),
        }),
      ),
    )
    expect(v.ok && v.facts.kind === 'npz' && v.facts.arrays.map((a) => a.name)).toEqual(['features', 'values', 'policy_indices', 'extra_mask'])
  })

  it('requires the same sample count in every array', async () => {
    const zip = buildZip(arrays({ 'features.npy': npy('<f4', [3, 2]), 'values.npy': npy('<f4', [3]), 'policy_values.npy': npy('<f4', [2, 4]) }))
    expect(await reason(zip, 'quick')).toBe("npz: 'policy_values' has 2 samples, 'features' has 3")
  })

  it('0-sample arrays are valid', async () => {
    const v = await check(buildZip(arrays({ 'features.npy': npy('<f4', [0, 14, 9, 9]), 'values.npy': npy('<f4', [0, 2]) }, 8)))
    expect(v.ok && v.facts.kind === 'npz' && v.facts.samples).toBe(0)
  })

  it('a 0-d array has no sample axis', async () => {
    const zip = buildZip(arrays({ 'features.npy': npy('<f4', [1]), 'values.npy': npy('<f4', []) }))
    expect(await reason(zip)).toBe("npz member 'values.npy': 0-d array has no sample axis")
  })

  it('rejects compression methods other than stored and deflate, and encryption', async () => {
    const zip = minimalNpz(2)
    // method field in the local header (offset 8) and central entry (offset 10) of the first member
    zip.writeUInt16LE(12, 8)
    const cd = zip.readUInt32LE(zip.length - 22 + 16)
    zip.writeUInt16LE(12, cd + 10)
    expect(await reason(zip)).toBe("npz member 'features.npy': compression method 12 is not supported (stored or deflate only)")
    const enc = buildZip([
      { name: 'features.npy', data: npy('<f4', [1]), flags: 1 },
      { name: 'values.npy', data: npy('<f4', [1]) },
    ])
    expect(await reason(enc)).toContain("member 'features.npy' is encrypted")
  })

  it("rejects a member pointing at another member's local header", async () => {
    const zip = minimalNpz(2)
    const cd = zip.readUInt32LE(zip.length - 22 + 16)
    const second = cd + 46 + 'features.npy'.length
    expect(zip.readUInt32LE(second)).toBe(0x02014b50)
    zip.writeUInt32LE(0, second + 42)
    expect(await reason(zip)).toBe("npz member 'values.npy': local header names a different file than the central directory")
  })

  it('rejects overlapping members', async () => {
    // with data descriptors the local headers carry no sizes, so only the central directory says how long data runs
    const zip = buildZip([
      { name: 'features.npy', data: npy('<f4', [2]), dataDescriptor: true },
      { name: 'values.npy', data: npy('<f4', [2]), dataDescriptor: true },
    ])
    const cd = zip.readUInt32LE(zip.length - 22 + 16)
    for (const field of [20, 24]) zip.writeUInt32LE(zip.readUInt32LE(cd + field) + 40, cd + field)
    expect(await reason(zip)).toBe("npz: members 'features.npy' and 'values.npy' overlap")
  })
})

describe('npz CRC and sizes (deep)', () => {
  for (const method of [0, 8] as const) {
    it(`${method === 0 ? 'stored' : 'deflate'}: a CRC mismatch is reported in deep mode only`, async () => {
      const zip = buildZip([
        { name: 'features.npy', data: npy('<f4', [4, 3]), method },
        { name: 'values.npy', data: npy('<f4', [4]), method, crc: 0x1a2b3c4d },
      ])
      expect(await reason(zip)).toMatch(/^npz member 'values.npy': CRC-32 mismatch \(expected 1a2b3c4d, got [0-9a-f]{8}\)$/)
      expect(await check(zip, 'quick')).toMatchObject({ ok: true })
    })
  }

  it('corrupt deflate data is reported', async () => {
    const zip = buildZip([
      { name: 'features.npy', data: npy('<f4', [64, 3]), method: 8 },
      { name: 'values.npy', data: npy('<f4', [64]), method: 8 },
    ])
    // the first member's deflate stream begins right after its 30-byte header and name
    const start = 30 + 'features.npy'.length
    for (let i = start + 2; i < start + 12; i++) zip[i] = 0xff
    expect(await reason(zip)).toMatch(/^npz member 'features.npy': (deflate data is corrupt|CRC-32 mismatch|\.npy|not a \.npy|inflates|holds)/)
  })

  it('checks every byte at chunk boundaries (1 MiB reads): 0, 1, chunk-1, chunk, chunk+1, many chunks', async () => {
    const chunk = 1024 * 1024
    for (const method of [0, 8] as const) {
      for (const memberSize of [128, 129, chunk - 1, chunk, chunk + 1, 3 * chunk + 5]) {
        const dataBytes = memberSize - 128 // the header of a 1-d uint8 array is 128 bytes
        const data = Buffer.alloc(dataBytes)
        for (let i = 0; i < dataBytes; i++) data[i] = (i * 31 + 7) & 0xff
        const features = npy('|u1', [dataBytes], { data })
        expect(features.length).toBe(memberSize)
        const members = [
          { name: 'features.npy', data: features, method },
          { name: 'values.npy', data: npy('|u1', [dataBytes]), method },
        ]
        expect(await check(buildZip(members)), `${method} ${memberSize}`).toMatchObject({ ok: true })
        // one flipped byte at the very end of the data must be caught
        if (dataBytes > 0) {
          const bad = Buffer.from(features)
          bad.writeUInt8(bad[bad.length - 1]! ^ 1, bad.length - 1)
          const crc = (await import('node:zlib')).crc32(features)
          const r = await reason(buildZip([{ ...members[0]!, data: bad, crc }, members[1]!]))
          expect(r).toContain("npz member 'features.npy': CRC-32 mismatch")
        }
      }
    }
  })

  it('a header whose shape needs more data than the member holds is rejected', async () => {
    const short = npy('<f4', [3, 3], { data: Buffer.alloc(24) })
    const r = await reason(buildZip(arrays({ 'features.npy': short, 'values.npy': npy('<f4', [3]) }, 8)), 'quick')
    expect(r).toBe("npz member 'features.npy': shape (3, 3) of '<f4' needs 36 data bytes after a 128-byte header, but the member holds 152 bytes")
  })

  it('a deflate member that inflates past its stated size is rejected', async () => {
    const zip = minimalNpz(64, { method: 8 })
    const cd = zip.readUInt32LE(zip.length - 22 + 16)
    // shrink the stated uncompressed size of 'features.npy' in both headers
    const size = zip.readUInt32LE(cd + 24)
    zip.writeUInt32LE(size - 1, cd + 24)
    zip.writeUInt32LE(size - 1, 22)
    expect(await reason(zip)).toMatch(/^npz member 'features.npy': (shape|inflates)/)
  })
})

describe('.npy headers', () => {
  const wrap = (features: Buffer, depth: Depth = 'deep') =>
    check(buildZip(arrays({ 'features.npy': features, 'values.npy': npy('<f4', [2]) }, 8)), depth)

  it('fortran_order True is accepted; a non-bool is rejected', async () => {
    expect(await wrap(npy('<f4', [2, 3], { fortran: true }))).toMatchObject({ ok: true })
    const v = await wrap(npy('<f4', [2, 3], { fortran: "'no'" }))
    expect(v.ok ? '' : v.reason).toBe("npz member 'features.npy': fortran_order must be True or False, not the string 'no'")
  })

  it('big-endian and other numeric dtypes are accepted', async () => {
    for (const d of ['>f4', '<f2', '>f8', '<i8', '>u2', '|u1', '|i1', '|b1', '<c8', '>c16', '=f4', '|f4']) {
      const v = await wrap(npy(d, [2, 3]))
      expect(v.ok && v.facts.kind === 'npz' && v.facts.arrays[0]!.dtype, d).toBe(d)
    }
  })

  it('non-numeric dtypes are rejected with the kind named', async () => {
    const cases: [string, string][] = [
      ['|O', "dtype object ('|O') is not allowed (pickled data is never loaded)"],
      ['<U5', "dtype unicode string ('<U5') is not allowed"],
      ['|S5', "dtype byte string ('|S5') is not allowed"],
      ['|V8', "dtype void/raw bytes ('|V8') is not allowed"],
      ['<M8[ns]', "dtype datetime/timedelta ('<M8[ns]') is not allowed"],
      ['f4', "dtype 'f4' has no byte order character"],
      ['!f4', "dtype '!f4' is not a numeric dtype"],
      ['<f3', "dtype '<f3' has an invalid item size"],
      ['<i16', "dtype '<i16' has an invalid item size"],
      ['<x4', "dtype '<x4' is not a numeric dtype"],
    ]
    for (const [descr, want] of cases) {
      const v = await wrap(npy(descr, [2], { data: Buffer.alloc(8) }), 'quick')
      expect(v.ok ? '' : v.reason, descr).toContain(`npz member 'features.npy': ${want}`)
    }
  })

  it('structured dtypes are rejected', async () => {
    const literal = "{'descr': [('a', '<i4'), ('b', '<f8')], 'fortran_order': False, 'shape': (2,), }"
    const v = await wrap(npy('', [], { literal, data: Buffer.alloc(24) }))
    expect(v.ok ? '' : v.reason).toBe("npz member 'features.npy': structured dtype is not allowed (numeric arrays only)")
  })

  it('header versions 2.0 and 3.0 are read; 4.0 is not', async () => {
    for (const version of [2, 3] as const) {
      const v = await wrap(npy('<f4', [2, 3], { version }))
      expect(v, `v${version}`).toMatchObject({ ok: true })
    }
    const bad = npy('<f4', [2, 3], { version: 2 })
    bad[6] = 4
    const v = await wrap(bad)
    expect(v.ok ? '' : v.reason).toBe("npz member 'features.npy': unsupported .npy format version 4.0")
  })

  it('a v2 header larger than the quick-mode read chunk parses; over 64 KiB is rejected before reading it', async () => {
    expect(await wrap(npy('<f4', [2, 3], { version: 2, pad: 40_000 }), 'quick')).toMatchObject({ ok: true })
    expect(await wrap(npy('<f4', [2, 3], { version: 2, pad: 40_000 }), 'deep')).toMatchObject({ ok: true })
    const v = await wrap(npy('<f4', [2, 3], { version: 2, pad: 70_000 }), 'quick')
    expect(v.ok ? '' : v.reason).toMatch(/^npz member 'features.npy': \.npy header length \d+ is over the 64 KiB limit$/)
  })

  it('shapes: axis over 1e9, negative axis, non-int axis', async () => {
    const lit = (shape: string) => `{'descr': '<f4', 'fortran_order': False, 'shape': ${shape}, }`
    const cases: [string, string][] = [
      ['(2, 1000000001)', 'axis 1 is 1000000001, over the 1e9 sanity limit'],
      ['(99999999999999999999999,)', 'axis 0 is 99999999999999999999999, over the 1e9 sanity limit'],
      ['(-1,)', 'axis 0 is negative (-1)'],
      ["(2, 'x')", "shape must be a tuple of ints, axis 1 is the string 'x'"],
      ['[2, 3]', 'shape must be a tuple of ints, not a list'],
      ['(2)', 'shape must be a tuple of ints, not the int 2'],
    ]
    for (const [shape, want] of cases) {
      const v = await wrap(npy('<f4', [], { literal: lit(shape), data: Buffer.alloc(8) }), 'quick')
      expect(v.ok ? '' : v.reason, shape).toBe(`npz member 'features.npy': ${want}`)
    }
  })

  it('a member that is not .npy, or ends inside its header', async () => {
    let v = await wrap(Buffer.from('PK this is not numpy data at all'))
    expect(v.ok ? '' : v.reason).toBe("npz member 'features.npy': not a .npy array (bad magic)")
    v = await wrap(npy('<f4', [2, 3]).subarray(0, 40))
    expect(v.ok ? '' : v.reason).toBe("npz member 'features.npy': member ends inside the .npy header")
    v = await wrap(npy('<f4', [2, 3]).subarray(0, 5))
    expect(v.ok ? '' : v.reason).toBe("npz member 'features.npy': member ends inside the .npy header")
  })
})

describe('Python literal parser', () => {
  it('parses what numpy writes, including Python 2 longs', () => {
    const v = parsePythonLiteral("{'descr': '<f4', \"fortran_order\": True, 'shape': (3L, 4), 'x': [None, (), (1,)], }  \n")
    expect(v.type).toBe('dict')
    if (v.type !== 'dict') return
    expect(v.entries.get('shape')).toEqual({ type: 'tuple', items: [{ type: 'int', value: 3n }, { type: 'int', value: 4n }] })
    expect(v.entries.get('x')).toEqual({
      type: 'list',
      items: [{ type: 'none' }, { type: 'tuple', items: [] }, { type: 'tuple', items: [{ type: 'int', value: 1n }] }],
    })
    expect(parsePythonLiteral("'a\\'b\\\\c'")).toEqual({ type: 'str', value: "a'b\\c" })
  })

  it('rejects anything that is not a plain literal (never evaluates)', () => {
    for (const text of [
      "__import__('os').system('echo hi')",
      "{'a': 1} + {}",
      "{'a': 1, 'a': 2}",
      '{1: 2}',
      "{'a': lambda: 0}",
      "{'a': 1.5}",
      "{'a': 0x10}",
      "'unterminated",
      '((((((((((((((((((((1))))))))))))))))))))',
      "{'a': '\\x41'}",
      '',
    ]) {
      expect(() => parsePythonLiteral(text), text).toThrow()
    }
  })

  it('parseNpyHeader requires exactly descr, fortran_order and shape', () => {
    const bad = npy('<f4', [1], { literal: "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'extra': 1}" })
    expect(() => parseNpyHeader(bad)).toThrow(new NpyFormatError(".npy header has an unexpected key 'extra'"))
    const missing = npy('<f4', [1], { literal: "{'descr': '<f4', 'fortran_order': False}" })
    expect(() => parseNpyHeader(missing)).toThrow(".npy header has no 'shape' key")
    const h = parseNpyHeader(npy('>i2', [5, 0, 7], { fortran: true, version: 3 }))
    expect(h).toMatchObject({ version: '3.0', descr: '>i2', itemsize: 2, fortranOrder: true, shape: [5, 0, 7], dataBytes: 0n, headerBytes: 128 })
  })
})
