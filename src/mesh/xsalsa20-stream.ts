import { xsalsa20 } from '@noble/ciphers/salsa.js'
import { OverLimitError, ValidationError } from '../util/errors.js'

const BLOCK = 64
/** @noble/ciphers keeps Salsa20's block counter to 32 bits and throws at its end. */
const MAX_BLOCKS = 2 ** 32 - 1

/**
 * XSalsa20 as a stream: `update` can be called with pieces of any size and
 * the result is the same as one call over their concatenation (the keystream
 * continues where the last piece stopped, mid-block included). This is what
 * @libp2p/pnet does with the `xsalsa20` package, built on @noble/ciphers
 * (audited, pure JS): no WebAssembly memory to run out of, nothing shared
 * between connections, and the only allocation is the output of each call.
 *
 * One direction of one connection can carry 2^32 - 1 blocks (256 GiB); past
 * that `update` throws OverLimitError and the connection must be closed (a
 * new connection exchanges new nonces).
 */
export class XSalsa20Stream {
  readonly #key: Uint8Array
  readonly #nonce: Uint8Array
  /** The next keystream block to generate. */
  #block = 0
  /** Keystream of the last partly used block, and how much of it is used. */
  readonly #tail = new Uint8Array(BLOCK)
  #tailUsed = BLOCK

  constructor(key: Uint8Array, nonce: Uint8Array) {
    if (key.length !== 32) throw new ValidationError(`xsalsa20: key must be 32 bytes, got ${key.length}`)
    if (nonce.length !== 24) throw new ValidationError(`xsalsa20: nonce must be 24 bytes, got ${nonce.length}`)
    this.#key = Uint8Array.from(key)
    this.#nonce = Uint8Array.from(nonce)
  }

  /** Bytes processed so far. */
  get position(): number {
    return this.#block * BLOCK - (BLOCK - this.#tailUsed)
  }

  /** XORs `input` with the next input.length keystream bytes into a new array. */
  update(input: Uint8Array): Uint8Array {
    const n = input.length
    // a new array is 4-byte aligned: noble's fast path works in 32-bit words
    const out = new Uint8Array(n)
    let i = 0
    while (this.#tailUsed < BLOCK && i < n) {
      out[i] = input[i]! ^ this.#tail[this.#tailUsed++]!
      i++
    }
    const whole = Math.floor((n - i) / BLOCK) * BLOCK
    const partial = n - i - whole
    const blocks = whole / BLOCK + (partial > 0 ? 1 : 0)
    if (this.#block + blocks > MAX_BLOCKS) {
      throw new OverLimitError(`xsalsa20: keystream exhausted after ${this.position} bytes on one connection direction (limit 256 GiB); the connection must be re-established`)
    }
    if (whole > 0) {
      const dst = out.subarray(i, i + whole)
      // in place on the aligned output (noble refuses only a partial overlap)
      dst.set(input.subarray(i, i + whole))
      xsalsa20(this.#key, this.#nonce, dst, dst, this.#block)
      this.#block += whole / BLOCK
      i += whole
    }
    if (partial > 0) {
      this.#tail.fill(0)
      xsalsa20(this.#key, this.#nonce, this.#tail, this.#tail, this.#block)
      this.#block++
      this.#tailUsed = 0
      while (i < n) {
        out[i] = input[i]! ^ this.#tail[this.#tailUsed++]!
        i++
      }
    }
    return out
  }
}
