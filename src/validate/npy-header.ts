import { LiteralError, parsePythonLiteral, type PyValue, pyRepr } from './py-literal.js'

/**
 * The header of a NumPy .npy file: magic, version, length, then a Python dict
 * literal such as `{'descr': '<f4', 'fortran_order': False, 'shape': (64, 14), }`.
 * The literal is read by a tiny hand-written parser (str keys; str, bool, None,
 * int, tuple and list values), never evaluated.
 * Format: https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html
 */

/** Largest header text accepted (numpy itself writes a few hundred bytes). */
export const NPY_MAX_HEADER_BYTES = 64 * 1024
/** Largest length accepted for any axis. */
export const NPY_MAX_AXIS = 1_000_000_000
const MAX_NDIM = 64
const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59] // \x93NUMPY

/** The .npy data is bad; the message says how (without a prefix). */
export class NpyFormatError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'NpyFormatError'
  }
}

export interface NpyHeader {
  version: '1.0' | '2.0' | '3.0'
  /** Bytes before the array data: magic, version, length field and header text. */
  headerBytes: number
  descr: string
  itemsize: number
  fortranOrder: boolean
  shape: number[]
  /** product(shape) * itemsize */
  dataBytes: bigint
}

/**
 * How many bytes from the start of the member hold the whole header, once
 * `prefix` has at least 12 bytes (or the member is shorter); undefined while
 * more bytes are needed to tell. Throws for a bad magic, version or a header
 * length over the limit.
 */
export function npyHeaderSize(prefix: Uint8Array): number | undefined {
  if (prefix.length < 8) return undefined
  for (let i = 0; i < MAGIC.length; i++) {
    if (prefix[i] !== MAGIC[i]) throw new NpyFormatError('not a .npy array (bad magic)')
  }
  const major = prefix[6]!
  const minor = prefix[7]!
  if (minor !== 0 || major < 1 || major > 3) throw new NpyFormatError(`unsupported .npy format version ${major}.${minor}`)
  const view = new DataView(prefix.buffer, prefix.byteOffset, prefix.byteLength)
  let preamble: number
  let length: number
  if (major === 1) {
    if (prefix.length < 10) return undefined
    preamble = 10
    length = view.getUint16(8, true)
  } else {
    if (prefix.length < 12) return undefined
    preamble = 12
    length = view.getUint32(8, true)
  }
  if (length > NPY_MAX_HEADER_BYTES) {
    throw new NpyFormatError(`.npy header length ${length} is over the 64 KiB limit`)
  }
  return preamble + length
}

const latin1 = new TextDecoder('latin1')
const utf8 = new TextDecoder('utf-8', { fatal: true })

/** Parses and checks a whole .npy header (`bytes` holds at least npyHeaderSize(bytes) bytes). */
export function parseNpyHeader(bytes: Uint8Array): NpyHeader {
  const size = npyHeaderSize(bytes)
  if (size == null || bytes.length < size) throw new NpyFormatError('member ends inside the .npy header')
  const major = bytes[6]!
  const preamble = major === 1 ? 10 : 12
  const raw = bytes.subarray(preamble, size)
  let text: string
  if (major === 3) {
    try {
      text = utf8.decode(raw)
    } catch {
      throw new NpyFormatError('.npy header is not valid UTF-8')
    }
  } else {
    text = latin1.decode(raw)
  }
  let literal: PyValue
  try {
    literal = parsePythonLiteral(text)
  } catch (err) {
    if (err instanceof LiteralError) throw new NpyFormatError(`.npy header is not a valid dict literal: ${err.message}`)
    throw err
  }
  if (literal.type !== 'dict') throw new NpyFormatError('.npy header is not a dict')
  const keys = [...literal.entries.keys()]
  for (const key of keys) {
    if (key !== 'descr' && key !== 'fortran_order' && key !== 'shape') {
      throw new NpyFormatError(`.npy header has an unexpected key ${pyRepr(key)}`)
    }
  }
  const descr = literal.entries.get('descr')
  const fortran = literal.entries.get('fortran_order')
  const shapeValue = literal.entries.get('shape')
  if (descr == null) throw new NpyFormatError(".npy header has no 'descr' key")
  if (fortran == null) throw new NpyFormatError(".npy header has no 'fortran_order' key")
  if (shapeValue == null) throw new NpyFormatError(".npy header has no 'shape' key")

  const itemsize = checkDescr(descr)
  if (fortran.type !== 'bool') throw new NpyFormatError(`fortran_order must be True or False, not ${describe(fortran)}`)
  const shape = checkShape(shapeValue)
  let count = 1n
  for (const d of shape) count *= BigInt(d)
  return {
    version: `${major}.0` as NpyHeader['version'],
    headerBytes: size,
    descr: (descr as { value: string }).value,
    itemsize,
    fortranOrder: fortran.value,
    shape,
    dataBytes: count * BigInt(itemsize),
  }
}

/** Checks the dtype is a plain numeric one; returns its item size in bytes. */
function checkDescr(descr: PyValue): number {
  if (descr.type === 'list') throw new NpyFormatError('structured dtype is not allowed (numeric arrays only)')
  if (descr.type !== 'str') throw new NpyFormatError(`descr must be a dtype string, not ${describe(descr)}`)
  const s = descr.value
  const q = pyRepr(s)
  const m = /^([<>|=]?)([A-Za-z?])(.*)$/s.exec(s)
  if (m == null) throw new NpyFormatError(`dtype ${q} is not a numeric dtype`)
  const order = m[1]!
  const code = m[2]!
  const size = m[3]!
  switch (code) {
    case 'O':
      throw new NpyFormatError(`dtype object (${q}) is not allowed (pickled data is never loaded)`)
    case 'U':
      throw new NpyFormatError(`dtype unicode string (${q}) is not allowed (numeric arrays only)`)
    case 'S':
    case 'a':
      throw new NpyFormatError(`dtype byte string (${q}) is not allowed (numeric arrays only)`)
    case 'V':
      throw new NpyFormatError(`dtype void/raw bytes (${q}) is not allowed (numeric arrays only)`)
    case 'M':
    case 'm':
      throw new NpyFormatError(`dtype datetime/timedelta (${q}) is not allowed (numeric arrays only)`)
  }
  const allowed: Record<string, readonly number[]> = {
    b: [1],
    '?': [1],
    i: [1, 2, 4, 8],
    u: [1, 2, 4, 8],
    f: [2, 4, 8, 12, 16],
    c: [8, 16, 24, 32],
  }
  const sizes = allowed[code]
  if (sizes == null) throw new NpyFormatError(`dtype ${q} is not a numeric dtype`)
  if (order === '') throw new NpyFormatError(`dtype ${q} has no byte order character (<, >, | or =)`)
  const itemsize = code === '?' && size === '' ? 1 : /^[0-9]{1,2}$/.test(size) ? Number(size) : Number.NaN
  if (!sizes.includes(itemsize)) throw new NpyFormatError(`dtype ${q} has an invalid item size`)
  return itemsize
}

function checkShape(v: PyValue): number[] {
  if (v.type !== 'tuple') throw new NpyFormatError(`shape must be a tuple of ints, not ${describe(v)}`)
  if (v.items.length > MAX_NDIM) throw new NpyFormatError(`shape has ${v.items.length} axes, over the limit of ${MAX_NDIM}`)
  return v.items.map((item, axis) => {
    if (item.type !== 'int') throw new NpyFormatError(`shape must be a tuple of ints, axis ${axis} is ${describe(item)}`)
    if (item.value < 0n) throw new NpyFormatError(`axis ${axis} is negative (${item.value})`)
    if (item.value > BigInt(NPY_MAX_AXIS)) {
      throw new NpyFormatError(`axis ${axis} is ${item.value}, over the 1e9 sanity limit`)
    }
    return Number(item.value)
  })
}

function describe(v: PyValue): string {
  switch (v.type) {
    case 'str':
      return `the string ${pyRepr(v.value)}`
    case 'int':
      return `the int ${v.value}`
    case 'bool':
      return v.value ? 'True' : 'False'
    case 'none':
      return 'None'
    default:
      return `a ${v.type}`
  }
}
