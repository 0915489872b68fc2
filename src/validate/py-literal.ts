import { printable } from './text.js'

/**
 * A tiny parser for the Python literals numpy writes in a .npy header: str
 * keys; str, int, bool, None, tuple, list and dict values. Never evaluated.
 */

export type PyValue =
  | { type: 'str'; value: string }
  | { type: 'int'; value: bigint }
  | { type: 'bool'; value: boolean }
  | { type: 'none' }
  | { type: 'tuple'; items: PyValue[] }
  | { type: 'list'; items: PyValue[] }
  | { type: 'dict'; entries: Map<string, PyValue> }

/** The text is no literal of the subset; the message gives the position. */
export class LiteralError extends Error {}

/** Deepest nesting of tuples, lists and dicts accepted. */
const MAX_NESTING = 16

/** Parses one Python literal (the subset numpy writes); throws LiteralError with the position. */
export function parsePythonLiteral(text: string): PyValue {
  const p = new LiteralParser(text)
  const result = p.value(0)
  p.ws()
  if (!p.atEnd) p.fail('unexpected text after the literal')
  return result
}

/** A Python repr of a string, shortened and made printable, for messages. */
export function pyRepr(s: string): string {
  return `'${printable(s, 40).replace(/[\\']/g, (c) => `\\${c}`)}'`
}

class LiteralParser {
  #i = 0
  readonly #text: string

  constructor(text: string) {
    this.#text = text
  }

  get atEnd(): boolean {
    return this.#i === this.#text.length
  }

  fail(what: string): never {
    throw new LiteralError(`${what} at character ${this.#i}`)
  }

  ws(): void {
    while (this.#i < this.#text.length && ' \t\n\r'.includes(this.#text[this.#i]!)) this.#i++
  }

  value(depth: number): PyValue {
    if (depth > MAX_NESTING) this.fail('nesting too deep')
    this.ws()
    const c = this.#text[this.#i]
    if (c === undefined) return this.fail('unexpected end')
    if (c === '{') return this.#dict(depth)
    if (c === '(' || c === '[') return this.#sequence(depth, c)
    if (c === "'" || c === '"') return { type: 'str', value: this.#str() }
    if (c === '-' || c === '+' || (c >= '0' && c <= '9')) return this.#int()
    const word = /^[A-Za-z_]+/.exec(this.#text.slice(this.#i, this.#i + 16))?.[0]
    if (word === 'True' || word === 'False') {
      this.#i += word.length
      return { type: 'bool', value: word === 'True' }
    }
    if (word === 'None') {
      this.#i += 4
      return { type: 'none' }
    }
    return this.fail(`unexpected ${JSON.stringify(c)}`)
  }

  #str(): string {
    const quote = this.#text[this.#i]!
    this.#i++
    let out = ''
    for (;;) {
      const c = this.#text[this.#i]
      if (c === undefined || c === '\n') return this.fail('unterminated string')
      this.#i++
      if (c === quote) return out
      out += c === '\\' ? this.#escape() : c
    }
  }

  #escape(): string {
    const e = this.#text[this.#i]
    this.#i++
    if (e === '\\' || e === "'" || e === '"') return e
    if (e === 'n') return '\n'
    if (e === 't') return '\t'
    if (e === 'r') return '\r'
    return this.fail(`unsupported escape \\${e ?? ''}`)
  }

  #int(): PyValue {
    const text = this.#text
    const m = /^[-+]?[0-9]{1,40}/.exec(text.slice(this.#i, this.#i + 41))
    if (m == null) return this.fail('bad number')
    this.#i += m[0].length
    if (text[this.#i] === 'L' || text[this.#i] === 'l') this.#i++ // Python 2 long suffix, written by old numpy
    if (/[0-9A-Za-z_.]/.test(text[this.#i] ?? '')) this.fail('bad number')
    return { type: 'int', value: BigInt(m[0]) }
  }

  #sequence(depth: number, open: '(' | '['): PyValue {
    const close = open === '(' ? ')' : ']'
    this.#i++
    const items: PyValue[] = []
    let trailingComma = false
    for (;;) {
      this.ws()
      if (this.#text[this.#i] === close) {
        this.#i++
        break
      }
      items.push(this.value(depth + 1))
      this.ws()
      trailingComma = false
      if (this.#text[this.#i] === ',') {
        this.#i++
        trailingComma = true
      } else if (this.#text[this.#i] !== close) {
        this.fail(`expected ',' or '${close}'`)
      }
    }
    // `(5)` is the int 5 in Python, `(5,)` a one-element tuple
    if (open === '(' && items.length === 1 && !trailingComma) return items[0]!
    return open === '(' ? { type: 'tuple', items } : { type: 'list', items }
  }

  #dict(depth: number): PyValue {
    this.#i++
    const entries = new Map<string, PyValue>()
    for (;;) {
      this.ws()
      if (this.#text[this.#i] === '}') {
        this.#i++
        break
      }
      const q = this.#text[this.#i]
      if (q !== "'" && q !== '"') this.fail('dict key must be a string')
      const key = this.#str()
      if (entries.has(key)) this.fail(`duplicate key ${pyRepr(key)}`)
      this.ws()
      if (this.#text[this.#i] !== ':') this.fail("expected ':'")
      this.#i++
      entries.set(key, this.value(depth + 1))
      this.ws()
      if (this.#text[this.#i] === ',') this.#i++
      else if (this.#text[this.#i] !== '}') this.fail("expected ',' or '}'")
    }
    return { type: 'dict', entries }
  }
}
