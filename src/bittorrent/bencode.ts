/**
 * The bencode encoding meshsync writes (BEP 3): integers, byte strings, lists
 * and dictionaries with keys in byte order. Only an encoder: every torrent
 * meshsync reads comes through webtorrent's own parser (parse-torrent).
 */
export type BValue = number | string | Uint8Array | BValue[] | { [key: string]: BValue }

export function bencode(value: BValue): Buffer {
  const parts: Buffer[] = []
  encodeInto(value, parts)
  return Buffer.concat(parts)
}

function encodeInto(v: BValue, out: Buffer[]): void {
  if (typeof v === 'number') {
    if (!Number.isSafeInteger(v)) throw new RangeError(`bencode: ${v} is not a safe integer`)
    out.push(Buffer.from(`i${v}e`))
  } else if (typeof v === 'string') {
    const b = Buffer.from(v, 'utf8')
    out.push(Buffer.from(`${b.length}:`), b)
  } else if (v instanceof Uint8Array) {
    out.push(Buffer.from(`${v.byteLength}:`), Buffer.from(v.buffer, v.byteOffset, v.byteLength))
  } else if (Array.isArray(v)) {
    out.push(Buffer.from('l'))
    for (const x of v) encodeInto(x, out)
    out.push(Buffer.from('e'))
  } else {
    out.push(Buffer.from('d'))
    const keys = Object.keys(v).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)))
    for (const k of keys) {
      encodeInto(k, out)
      encodeInto(v[k]!, out)
    }
    out.push(Buffer.from('e'))
  }
}
