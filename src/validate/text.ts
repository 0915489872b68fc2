/** Helpers to put untrusted names into human-readable reasons. */

function isControl(code: number): boolean {
  return code < 0x20 || code === 0x7f
}

export function hasControlChars(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (isControl(s.charCodeAt(i))) return true
  return false
}

/** Control characters as '?', cut to `max` characters. */
export function printable(s: string, max = 100): string {
  const short = s.length > max ? `${s.slice(0, max)}...` : s
  let out = ''
  for (let i = 0; i < short.length; i++) out += isControl(short.charCodeAt(i)) ? '?' : short[i]
  return out
}

/** A quoted name for a reason: 'values.npy'. */
export function quoted(s: string, max = 100): string {
  return `'${printable(s, max)}'`
}
