import { formatBytes, formatDuration } from '../util/units.js'

/** A plain-text table: columns padded to their widest cell. */
export function table(headers: string[], rows: (string | number)[][]): string {
  const cells = [headers, ...rows.map((r) => r.map((c) => String(c)))]
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)))
  return cells.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')).join('\n')
}

export function short(id: string | undefined, n = 10): string {
  if (id == null) return '-'
  return id.length > n + 2 ? `${id.slice(0, 4)}…${id.slice(-n + 4)}` : id
}

/** One line of progress: bar, bytes, rate, ETA, sources. Rewritten in place on a terminal. */
export function progressLine(p: { done: number; total: number; rate: number; sources: number; label?: string }): string {
  const width = 24
  const frac = p.total > 0 ? Math.min(1, p.done / p.total) : 1
  const filled = Math.round(frac * width)
  const bar = `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}]`
  const eta = p.rate > 0 ? formatDuration(((p.total - p.done) / p.rate) * 1000) : '-'
  return `${bar} ${(frac * 100).toFixed(1).padStart(5)}%  ${formatBytes(p.done)} / ${formatBytes(p.total)}  ${formatBytes(p.rate)}/s  ETA ${eta}  sources ${p.sources}${p.label != null ? `  ${p.label}` : ''}`
}

export { formatBytes, formatDuration }
