/** A benchmark's `--name value` options: `str` as given, `num` checked to be a number (a clear error otherwise). */
export function benchArgs(argv: string[]): { str: (name: string, dflt: string) => string; num: (name: string, dflt: number) => number } {
  const str = (name: string, dflt: string): string => {
    const i = argv.indexOf(`--${name}`)
    return i >= 0 && argv[i + 1] != null ? argv[i + 1]! : dflt
  }
  const num = (name: string, dflt: number): number => {
    const v = str(name, String(dflt))
    const n = Number(v)
    if (v.trim() === '' || !Number.isFinite(n)) throw new Error(`--${name}: expected a number, got ${JSON.stringify(v)}`)
    return n
  }
  return { str, num }
}
