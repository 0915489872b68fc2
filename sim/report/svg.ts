/**
 * Hand-written inline SVG for the simulation report: scales, ticks, axes, line,
 * bar and CDF charts. Pure string building, no DOM, no randomness: the same
 * input gives the same bytes. Every number written passes through `n()`, so a
 * stray NaN in the data becomes 0 instead of a broken attribute.
 */

/** Escape text for HTML/SVG element content and double- or single-quoted attributes. */
export function esc(value: unknown): string {
  const s = value == null ? '' : String(value)
  if (!/[&<>"']/.test(s)) return s
  return s.replace(/[&<>"']/g, (c) => (c === '&' ? '&amp;' : c === '<' ? '&lt;' : c === '>' ? '&gt;' : c === '"' ? '&quot;' : '&#39;'))
}

/** Coordinate for output: one decimal, never NaN or Infinity. */
export function n(v: number): number {
  return Number.isFinite(v) ? Math.round(v * 10) / 10 : 0
}

export function isNum(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v)
}

// ---------------------------------------------------------------- formatting

const BYTE_UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB']

function sig3(v: number): string {
  if (v === 0) return '0'
  const a = Math.abs(v)
  return a >= 100 ? v.toFixed(0) : a >= 10 ? v.toFixed(1) : v.toFixed(2)
}

/** 1536 → "1.50 KiB". */
export function fmtBytes(b: number): string {
  if (!isNum(b)) return '—'
  let i = 0
  let v = b
  while (Math.abs(v) >= 1024 && i < BYTE_UNITS.length - 1) {
    v /= 1024
    i++
  }
  return i === 0 ? `${Math.round(v)} B` : `${sig3(v)} ${BYTE_UNITS[i]}`
}

/** 850 → "850 ms", 12345 → "12.3 s", 125000 → "2 min 5 s". */
export function fmtMs(ms: number): string {
  if (!isNum(ms)) return '—'
  const a = Math.abs(ms)
  if (a < 1) return `${ms.toFixed(2)} ms`
  if (a < 1000) return `${sig3(ms)} ms`
  if (a < 60_000) return `${sig3(ms / 1000)} s`
  if (a < 3_600_000) {
    const m = Math.floor(a / 60_000)
    const s = Math.round((a - m * 60_000) / 1000)
    return `${ms < 0 ? '-' : ''}${m} min${s > 0 ? ` ${s} s` : ''}`
  }
  const h = Math.floor(a / 3_600_000)
  const m = Math.round((a - h * 3_600_000) / 60_000)
  return `${ms < 0 ? '-' : ''}${h} h${m > 0 ? ` ${m} min` : ''}`
}

/** Seconds since start, for tables: 12345 → "12.35". */
export function fmtT(ms: number): string {
  return isNum(ms) ? (ms / 1000).toFixed(2) : '—'
}

export function fmtPct(f: number): string {
  return isNum(f) ? `${(f * 100).toFixed(f < 0.1 ? 1 : 0)}%` : '—'
}

/** A plain number, grouped: 1234567 → "1 234 567"; fractions to 3 significant digits. */
export function fmtNum(v: number): string {
  if (!isNum(v)) return '—'
  if (Number.isInteger(v)) return String(v).replace(/\B(?=(\d{3})+(?!\d))/g, '\u2009')
  return Math.abs(v) >= 1000 ? fmtNum(Math.round(v)) : String(Number(v.toPrecision(3)))
}

// ---------------------------------------------------------------- scales and ticks

export type Scale = (v: number) => number

export function linear(domain: readonly [number, number], range: readonly [number, number]): Scale {
  const [d0, d1] = domain
  const [r0, r1] = range
  const k = d1 !== d0 ? (r1 - r0) / (d1 - d0) : 0
  return (v) => r0 + (v - d0) * k
}

/** log10 scale; values at or below 0 are clamped to the domain's low end. */
export function log10Scale(domain: readonly [number, number], range: readonly [number, number]): Scale {
  const l0 = Math.log10(domain[0])
  const l1 = Math.log10(domain[1])
  const s = linear([l0, l1], range)
  return (v) => s(v > domain[0] ? Math.log10(v) : l0)
}

export function niceStep(span: number, target: number): number {
  if (!(span > 0)) return 1
  const raw = span / Math.max(1, target)
  const p = 10 ** Math.floor(Math.log10(raw))
  const f = raw / p
  return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 2.5 ? 2.5 : f <= 5 ? 5 : 10) * p
}

/** Round numbers between lo and hi, about `target` of them. */
export function niceTicks(lo: number, hi: number, target = 6, minStep = 0): number[] {
  if (!(hi > lo)) hi = lo + 1
  const step = Math.max(minStep, niceStep(hi - lo, target))
  const out: number[] = []
  for (let i = Math.ceil(lo / step - 1e-9); i <= Math.floor(hi / step + 1e-9); i++) out.push(Number((i * step).toPrecision(12)))
  return out
}

/** hi rounded up to the next nice tick. */
export function niceMax(hi: number, target = 6, minStep = 0): number {
  if (!(hi > 0)) return 1
  const step = Math.max(minStep, niceStep(hi, target))
  return Number((Math.ceil(hi / step - 1e-9) * step).toPrecision(12))
}

/** Ticks and labels for a byte axis from 0 to max, in one binary unit. */
export function byteTicks(max: number): { max: number; ticks: number[]; label: (v: number) => string } {
  let i = 0
  let u = 1
  while (max / u >= 1024 && i < BYTE_UNITS.length - 1) {
    u *= 1024
    i++
  }
  const top = niceMax(max / u, 5)
  const ticks = niceTicks(0, top, 5).map((t) => t * u)
  return { max: top * u, ticks, label: (v) => `${Number((v / u).toPrecision(6))} ${BYTE_UNITS[i]}` }
}

/** Decades (and 2, 5 in between when few) from lo to hi. */
export function logTicks(lo: number, hi: number): number[] {
  const a = Math.floor(Math.log10(lo))
  const b = Math.ceil(Math.log10(hi))
  const out: number[] = []
  for (let e = a; e <= b; e++) {
    for (const m of b - a <= 3 ? [1, 2, 5] : [1]) {
      const v = Number((m * 10 ** e).toPrecision(6))
      if (v >= lo * 0.999 && v <= hi * 1.001) out.push(v)
    }
  }
  return out
}

// ---------------------------------------------------------------- colours

const CATEGORICAL = ['#4e79a7', '#f28e2b', '#59a14f', '#b07aa1', '#76b7b2', '#edc948', '#9c755f', '#ff9da7', '#e15759', '#bab0ac']

/** Distinct colours: a categorical palette for up to 10, then golden-angle hues. */
export function palette(i: number, count: number): string {
  if (count <= CATEGORICAL.length) return CATEGORICAL[i % CATEGORICAL.length]!
  const hue = Math.round((i * 137.508 + 210) % 360)
  return `hsl(${hue} ${i % 3 === 1 ? 55 : 65}% ${i % 2 === 0 ? 40 : 52}%)`
}

export const RED = '#d1242f'
export const FAULT = '#b3261e'
export const SETTLED = '#2f7d4f'

// ---------------------------------------------------------------- frame and marks

/** Fault times and the end of the fault phase, drawn on every time chart. */
export interface TimeMarks {
  faults: { t: number; label: string; title: string }[]
  settledAtMs?: number
}

export interface Frame {
  W: number
  H: number
  left: number
  top: number
  /** Plot area size. */
  w: number
  h: number
  x: Scale
  y: Scale
}

export function frame(W: number, H: number, margin: { left: number; right: number; top: number; bottom: number }, x: (r: [number, number]) => Scale, y: (r: [number, number]) => Scale): Frame {
  const w = Math.max(10, W - margin.left - margin.right)
  const h = Math.max(10, H - margin.top - margin.bottom)
  return { W, H, left: margin.left, top: margin.top, w, h, x: x([margin.left, margin.left + w]), y: y([margin.top + h, margin.top]) }
}

export function svgOpen(W: number, H: number, label: string): string {
  return `<svg viewBox="0 0 ${n(W)} ${n(H)}" width="${n(W)}" height="${n(H)}" role="img" aria-label="${esc(label)}">`
}

/** A whole chart that only says there is nothing to draw. */
export function emptyChart(W: number, H: number, label: string, message: string): string {
  return `${svgOpen(W, H, label)}<rect x="0.5" y="0.5" width="${n(W - 1)}" height="${n(H - 1)}" fill="#fafbfc" stroke="#d9dee7" stroke-dasharray="4 3"/><text x="${n(W / 2)}" y="${n(H / 2)}" text-anchor="middle" class="msg">${esc(message)}</text></svg>`
}

export interface AxisOpts {
  xTicks: number[]
  xLabel: (v: number) => string
  xTitle: string
  yTicks: number[]
  yLabel: (v: number) => string
  yTitle: string
}

/** Grid, tick labels and axis titles. */
export function axes(f: Frame, o: AxisOpts): string {
  const out: string[] = ['<g class="axes">']
  const bottom = f.top + f.h
  const right = f.left + f.w
  for (const t of o.yTicks) {
    const y = n(f.y(t))
    out.push(`<line x1="${f.left}" x2="${n(right)}" y1="${y}" y2="${y}" class="grid"/><text x="${f.left - 6}" y="${n(y + 3.5)}" text-anchor="end">${esc(o.yLabel(t))}</text>`)
  }
  for (const t of o.xTicks) {
    const x = n(f.x(t))
    out.push(`<line x1="${x}" x2="${x}" y1="${bottom}" y2="${bottom + 4}" class="axis"/><text x="${x}" y="${bottom + 16}" text-anchor="middle">${esc(o.xLabel(t))}</text>`)
  }
  out.push(`<line x1="${f.left}" x2="${n(right)}" y1="${bottom}" y2="${bottom}" class="axis"/><line x1="${f.left}" x2="${f.left}" y1="${f.top}" y2="${bottom}" class="axis"/>`)
  out.push(`<text x="${n(f.left + f.w / 2)}" y="${f.H - 4}" text-anchor="middle" class="title">${esc(o.xTitle)}</text>`)
  out.push(`<text transform="translate(12 ${n(f.top + f.h / 2)}) rotate(-90)" text-anchor="middle" class="title">${esc(o.yTitle)}</text>`)
  out.push('</g>')
  return out.join('')
}

/** Top margin a time chart needs for fault labels. */
export function marksTop(marks: TimeMarks): number {
  return marks.faults.length > 0 ? 46 : 16
}

/** Light shading of the fault phase, drawn under the data. */
export function settledShade(f: Frame, marks: TimeMarks): string {
  if (!isNum(marks.settledAtMs)) return ''
  const x1 = Math.min(f.left + f.w, Math.max(f.left, f.x(marks.settledAtMs)))
  return `<rect x="${f.left}" y="${f.top}" width="${n(x1 - f.left)}" height="${f.h}" fill="#fdf6ea"/>`
}

/**
 * Dashed vertical lines at fault times with small labels stacked in three lanes
 * above the plot (labels that do not fit are left to the line's tooltip), and
 * a solid line where the run settled.
 */
export function timeMarks(f: Frame, marks: TimeMarks): string {
  const out: string[] = ['<g class="marks">']
  const bottom = f.top + f.h
  const lanes = [Number.NEGATIVE_INFINITY, Number.NEGATIVE_INFINITY, Number.NEGATIVE_INFINITY]
  const sorted = [...marks.faults].sort((a, b) => a.t - b.t)
  for (const m of sorted) {
    const x = n(f.x(m.t))
    if (x < f.left - 0.5 || x > f.left + f.w + 0.5) continue
    out.push(`<line x1="${x}" x2="${x}" y1="${f.top - 4}" y2="${bottom}" class="fault"><title>${esc(m.title)}</title></line>`)
    const width = m.label.length * 5.6 + 6
    const lane = lanes.findIndex((end) => end < x)
    if (lane >= 0 && x + width < f.W) {
      lanes[lane] = x + width
      out.push(`<text x="${n(x + 2)}" y="${f.top - 8 - lane * 11}" class="flabel">${esc(m.label)}<title>${esc(m.title)}</title></text>`)
    }
  }
  if (isNum(marks.settledAtMs)) {
    const x = n(f.x(marks.settledAtMs))
    if (x >= f.left && x <= f.left + f.w) out.push(`<line x1="${x}" x2="${x}" y1="${f.top}" y2="${bottom}" class="settled"/><text x="${n(x - 3)}" y="${bottom - 5}" text-anchor="end" class="slabel">settled</text>`)
  }
  out.push('</g>')
  return out.join('')
}

// ---------------------------------------------------------------- paths

type Pt = readonly [number, number]

/**
 * Pixel points to path data. Runs longer than two points per pixel column are
 * cut to first/min/max/last per column, so a 100 000-sample series costs
 * about as much as a 2 000-sample one.
 */
export function pathData(px: (Pt | null)[]): string {
  const out: string[] = []
  let run: Pt[] = []
  const flush = () => {
    if (run.length === 0) return
    const pts = decimate(run)
    out.push(`M${n(pts[0]![0])},${n(pts[0]![1])}`)
    if (pts.length === 1) out.push('h0.1')
    else {
      out.push('L')
      for (let i = 1; i < pts.length; i++) out.push(`${i > 1 ? ' ' : ''}${n(pts[i]![0])},${n(pts[i]![1])}`)
    }
    run = []
  }
  for (const p of px) {
    if (p == null || !isNum(p[0]) || !isNum(p[1])) flush()
    else run.push(p)
  }
  flush()
  return out.join('')
}

function decimate(pts: Pt[]): Pt[] {
  if (pts.length < 2000) return pts
  const out: Pt[] = []
  let col = Math.round(pts[0]![0])
  let bucket: Pt[] = []
  const emit = () => {
    if (bucket.length <= 4) {
      out.push(...bucket)
    } else {
      let lo = bucket[0]!
      let hi = bucket[0]!
      for (const p of bucket) {
        if (p[1] < lo[1]) lo = p
        if (p[1] > hi[1]) hi = p
      }
      const mid = bucket.indexOf(lo) < bucket.indexOf(hi) ? [lo, hi] : [hi, lo]
      out.push(bucket[0]!, ...mid, bucket[bucket.length - 1]!)
    }
    bucket = []
  }
  for (const p of pts) {
    const c = Math.round(p[0])
    if (c !== col) {
      emit()
      col = c
    }
    bucket.push(p)
  }
  emit()
  return out
}

/** Data points to step points (hold each value until the next sample). */
export function steps(points: (Pt | null)[]): (Pt | null)[] {
  const out: (Pt | null)[] = []
  let prev: Pt | null = null
  for (const p of points) {
    if (p != null && prev != null) out.push([p[0], prev[1]])
    out.push(p)
    prev = p
  }
  return out
}

// ---------------------------------------------------------------- charts

export interface LineSeries {
  color: string
  /** Data points [x, y]; null breaks the line. */
  points: (Pt | null)[]
  /** Tooltip. */
  title: string
  step?: boolean
  width?: number
  opacity?: number
  /** y offset in pixels (to separate lines that coincide). */
  dy?: number
}

export interface LineChartOpts {
  /** Unique within the page (used for the clip path id). */
  id: string
  label: string
  W: number
  H: number
  xDomain: [number, number]
  yDomain: [number, number]
  axes: AxisOpts
  series: LineSeries[]
  hlines?: { y: number; label: string; color: string }[]
  marks: TimeMarks
}

/** A time chart: x in ms, lines, optional horizontal reference lines, fault marks. */
export function lineChart(o: LineChartOpts): string {
  const f = frame(o.W, o.H, { left: 70, right: 18, top: marksTop(o.marks), bottom: 40 }, (r) => linear(o.xDomain, r), (r) => linear(o.yDomain, r))
  const out: string[] = [svgOpen(o.W, o.H, o.label), settledShade(f, o.marks), axes(f, o.axes)]
  out.push(`<clipPath id="${esc(o.id)}-clip"><rect x="${f.left}" y="${f.top - 3}" width="${n(f.w)}" height="${n(f.h + 6)}"/></clipPath>`)
  out.push(`<g clip-path="url(#${esc(o.id)}-clip)" fill="none" stroke-linejoin="round">`)
  for (const s of o.series) {
    const dy = s.dy ?? 0
    const px = s.points.map((p) => (p == null ? null : ([f.x(p[0]), f.y(p[1]) + dy] as const)))
    const d = pathData(s.step === true ? steps(px) : px)
    if (d === '') continue
    out.push(`<path d="${d}" stroke="${esc(s.color)}" stroke-width="${s.width ?? 1.5}"${s.opacity != null ? ` stroke-opacity="${s.opacity}"` : ''}><title>${esc(s.title)}</title></path>`)
  }
  out.push('</g>')
  for (const h of o.hlines ?? []) {
    const y = n(f.y(h.y))
    out.push(`<line x1="${f.left}" x2="${f.left + f.w}" y1="${y}" y2="${y}" stroke="${esc(h.color)}" stroke-width="1.5" stroke-dasharray="7 4"/><text x="${f.left + f.w - 4}" y="${n(y - 4)}" text-anchor="end" class="hlabel" fill="${esc(h.color)}">${esc(h.label)}</text>`)
  }
  out.push(timeMarks(f, o.marks), '</svg>')
  return out.join('')
}

export interface Bar {
  label: string
  value: number
  color: string
  title: string
}

/** Horizontal bars, one row each, labelled on the left and with the value on the right. */
export function barChart(o: { label: string; W: number; bars: Bar[]; format: (v: number) => string; ticks: number[]; max: number; tickLabel: (v: number) => string }): string {
  const rowH = o.bars.length > 80 ? 10 : 18
  const H = 30 + o.bars.length * rowH + 24
  const f = frame(o.W, H, { left: 150, right: 90, top: 10, bottom: 30 }, (r) => linear([0, o.max > 0 ? o.max : 1], r), (r) => linear([0, 1], r))
  const out: string[] = [svgOpen(o.W, H, o.label), '<g class="axes">']
  const bottom = f.top + f.h
  for (const t of o.ticks) {
    const x = n(f.x(t))
    out.push(`<line x1="${x}" x2="${x}" y1="${f.top}" y2="${bottom}" class="grid"/><text x="${x}" y="${bottom + 14}" text-anchor="middle">${esc(o.tickLabel(t))}</text>`)
  }
  out.push('</g>')
  o.bars.forEach((b, i) => {
    const y = f.top + 8 + i * rowH
    const w = Math.max(0, f.x(b.value) - f.left)
    out.push(`<g><title>${esc(b.title)}</title><text x="${f.left - 6}" y="${n(y + rowH / 2 + 3.5)}" text-anchor="end">${esc(clip(b.label, 22))}</text><rect x="${f.left}" y="${n(y + 2)}" width="${n(w)}" height="${rowH - 4}" fill="${esc(b.color)}"/><text x="${n(f.left + w + 5)}" y="${n(y + rowH / 2 + 3.5)}">${esc(o.format(b.value))}</text></g>`)
  })
  out.push(`<line x1="${f.left}" x2="${f.left}" y1="${f.top}" y2="${bottom}" class="axis"/></svg>`)
  return out.join('')
}

export interface CdfSeries {
  label: string
  color: string
  /** Samples sorted ascending, finite. */
  sorted: number[]
}

/**
 * Empirical CDF of latency samples (x in ms, log scale when the range spans
 * more than ~1.5 decades), with dots at p50 and p99.
 */
export function cdfChart(o: { label: string; W: number; H: number; series: CdfSeries[]; pct: (sorted: number[], p: number) => number }): string {
  const all = o.series.filter((s) => s.sorted.length > 0)
  if (all.length === 0) return emptyChart(o.W, o.H, o.label, 'no latency samples')
  let lo = Number.POSITIVE_INFINITY
  let hi = Number.NEGATIVE_INFINITY
  for (const s of all) {
    lo = Math.min(lo, s.sorted[0]!)
    hi = Math.max(hi, s.sorted[s.sorted.length - 1]!)
  }
  const positiveLo = Math.min(...all.map((s) => s.sorted.find((v) => v > 0) ?? hi))
  const log = hi > 0 && positiveLo > 0 && hi / positiveLo > 30
  let domain: [number, number]
  let xTicks: number[]
  if (log) {
    domain = [10 ** Math.floor(Math.log10(positiveLo)), 10 ** Math.ceil(Math.log10(hi))]
    xTicks = logTicks(domain[0], domain[1])
  } else {
    const top = niceMax(hi > 0 ? hi : 1)
    const bottom = lo < 0 ? -niceMax(-lo) : 0
    domain = [bottom, top]
    xTicks = niceTicks(bottom, top, 7)
  }
  const f = frame(o.W, o.H, { left: 70, right: 18, top: 16, bottom: 40 }, (r) => (log ? log10Scale(domain, r) : linear(domain, r)), (r) => linear([0, 1], r))
  const out: string[] = [
    svgOpen(o.W, o.H, o.label),
    axes(f, { xTicks, xLabel: fmtMs, xTitle: `latency${log ? ' (log scale)' : ''}`, yTicks: [0, 0.25, 0.5, 0.75, 0.9, 0.99, 1], yLabel: (v) => `${Math.round(v * 100)}%`, yTitle: 'fraction of samples ≤ x' }),
    '<g fill="none">',
  ]
  for (const s of all) {
    const m = s.sorted.length
    const k = Math.min(m, 600)
    const pts: Pt[] = [[s.sorted[0]!, 0]]
    for (let j = 0; j < k; j++) {
      const i = k === m ? j : Math.min(m - 1, Math.floor(((j + 1) * m) / k) - 1)
      pts.push([s.sorted[i]!, (i + 1) / m])
    }
    const px = steps(pts.map((p) => [f.x(p[0]), f.y(p[1])] as const))
    out.push(`<path d="${pathData(px)}" stroke="${esc(s.color)}" stroke-width="2"><title>${esc(s.label)} (${m} samples)</title></path>`)
  }
  out.push('</g>')
  for (const s of all) {
    for (const p of [50, 99]) {
      const v = o.pct(s.sorted, p)
      out.push(`<circle cx="${n(f.x(v))}" cy="${n(f.y(p / 100))}" r="3.5" fill="#fff" stroke="${esc(s.color)}" stroke-width="2"><title>${esc(`${s.label} p${p}: ${fmtMs(v)}`)}</title></circle>`)
    }
  }
  out.push('</svg>')
  return out.join('')
}

export function clip(s: string, max: number): string {
  return s.length <= max ? s : `${s.slice(0, max - 1)}…`
}
