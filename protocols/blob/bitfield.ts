/** Chunk bitfields as on the wire: chunk i is bit (7 - i % 8) of byte floor(i / 8). */
export class Bitfield {
  readonly bytes: Uint8Array
  readonly length: number

  constructor(length: number, bytes?: Uint8Array) {
    this.length = length
    const n = Math.ceil(length / 8)
    this.bytes = new Uint8Array(n)
    if (bytes != null) this.bytes.set(bytes.subarray(0, n))
    // bits past the end are never set
    const spare = n * 8 - length
    if (spare > 0 && n > 0) this.bytes[n - 1]! &= (0xff << spare) & 0xff
  }

  get(i: number): boolean {
    return i >= 0 && i < this.length && (this.bytes[i >> 3]! & (0x80 >> (i & 7))) !== 0
  }

  set(i: number, on = true): void {
    if (i < 0 || i >= this.length) throw new RangeError(`chunk ${i} out of range 0..${this.length - 1}`)
    if (on) this.bytes[i >> 3]! |= 0x80 >> (i & 7)
    else this.bytes[i >> 3]! &= ~(0x80 >> (i & 7))
  }

  count(): number {
    let c = 0
    for (const b of this.bytes) {
      let v = b
      while (v !== 0) {
        v &= v - 1
        c++
      }
    }
    return c
  }

  full(): boolean {
    return this.count() === this.length
  }

  static all(length: number): Bitfield {
    const b = new Bitfield(length)
    b.bytes.fill(0xff)
    return new Bitfield(length, b.bytes)
  }
}
