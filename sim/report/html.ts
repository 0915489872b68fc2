/**
 * DIR/report.html: one self-contained page (inline CSS and SVG, no script, no
 * network; a CSP forbids fetching anything) that shows what happened in a
 * simulation run. Pure and deterministic: the same report gives the same bytes.
 */
import {
  type Bar,
  type LineSeries,
  type TimeMarks,
  axes,
  barChart,
  byteTicks,
  cdfChart,
  clip,
  emptyChart,
  esc,
  FAULT,
  fmtBytes,
  fmtMs,
  fmtNum,
  fmtPct,
  fmtT,
  frame,
  isNum,
  linear,
  lineChart,
  marksTop,
  n,
  niceMax,
  niceTicks,
  palette,
  RED,
  settledShade,
  svgOpen,
  timeMarks,
} from './svg.js'
import type { NodeSample, SimEvent, SimReport, SimReportFile } from './types.js'

/** Lines drawn in the copies chart at most. */
export const MAX_FILE_LINES = 40
/** Rows in the files table at most. */
export const MAX_FILE_ROWS = 2000
/** Rows in the raw events table at most. */
export const MAX_EVENT_ROWS = 5000
/** Above this many events the timeline shows per-bucket counts instead of dots. */
export const MAX_EVENT_DOTS = 2000

const W = 1100

/** PASS when every invariant held, FAIL when one did not, NO CHECKS when there are none. */
export function reportVerdict(report: SimReport): 'PASS' | 'FAIL' | 'NO CHECKS' {
  const all = Object.values(report.invariants ?? {})
  if (all.length === 0) return 'NO CHECKS'
  return all.every((i) => i?.ok === true) ? 'PASS' : 'FAIL'
}

/** Nearest-rank percentile of an ascending array (NaN when empty). */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))
  return sorted[rank]!
}

interface Ctx {
  r: SimReport
  xDomain: [number, number]
  marks: TimeMarks
  timeAxis: { xTicks: number[]; xLabel: (v: number) => string; xTitle: string }
  /** Node names in report order, then any others seen in series, events or faults (sorted). */
  nodeNames: string[]
  nodeColor: Map<string, string>
}

/** The whole page. */
export function renderReportHtml(report: SimReport): string {
  const ctx = context(report)
  const verdict = reportVerdict(report)
  const name = report.scenario?.name ?? '(unnamed)'
  const body = [
    header(ctx, verdict),
    nav(),
    invariantsSection(ctx),
    figuresSection(ctx),
    copiesSection(ctx),
    bytesSection(ctx),
    diskSection(ctx),
    latencySection(ctx),
    timelineSection(ctx),
    filesSection(ctx),
    nodesSection(ctx),
    eventsSection(ctx),
  ].join('\n')
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<title>${esc(verdict)} · ${esc(name)} · meshsync sim</title>
<style>${CSS}</style>
</head>
<body>
<main>
${body}
<footer>meshsync simulation report · version ${esc(report.version)}</footer>
</main>
</body>
</html>
`
}

// ---------------------------------------------------------------- context

function context(r: SimReport): Ctx {
  const series = r.series ?? { copies: [], bytesMoved: [], disk: [] }
  let xMax = isNum(r.durationMs) ? r.durationMs : 0
  const seeT = (t: unknown) => {
    if (isNum(t) && t > xMax) xMax = t
  }
  for (const list of [series.copies ?? [], series.bytesMoved ?? [], series.disk ?? [], r.faults ?? [], r.events ?? []]) {
    for (const s of list) seeT(s.t)
  }
  if (isNum(r.settledAtMs)) seeT(r.settledAtMs)
  if (!(xMax > 0)) xMax = 1000
  const secTicks = niceTicks(0, xMax / 1000, 10)
  const xTicks = secTicks.map((s) => s * 1000)
  const nodeNames = (r.nodes ?? []).map((x) => x.name)
  const known = new Set(nodeNames)
  const extra = new Set<string>()
  const see = (name: unknown) => {
    if (typeof name === 'string' && !known.has(name)) extra.add(name)
  }
  for (const s of [...(series.bytesMoved ?? []), ...(series.disk ?? [])]) for (const k of Object.keys(s.nodes ?? {})) see(k)
  for (const e of r.events ?? []) see(e.node)
  for (const f of r.faults ?? []) see(f.node)
  nodeNames.push(...[...extra].sort())
  const nodeColor = new Map(nodeNames.map((name, i) => [name, palette(i, nodeNames.length)]))
  const marks: TimeMarks = {
    faults: (r.faults ?? [])
      .filter((f) => isNum(f.t))
      .map((f) => ({
        t: f.t,
        label: f.node != null && f.node !== '' ? `${f.type} ${f.node}` : f.type,
        title: [`${fmtT(f.t)} s`, f.type, f.node, f.detail].filter((x) => x != null && x !== '').join(' · '),
      })),
    settledAtMs: isNum(r.settledAtMs) ? r.settledAtMs : undefined,
  }
  return {
    r,
    xDomain: [0, xMax],
    marks,
    timeAxis: { xTicks, xLabel: (v) => String(Number((v / 1000).toPrecision(6))), xTitle: 'time since start (s)' },
    nodeNames,
    nodeColor,
  }
}

function byT<T extends { t: number }>(list: readonly T[] | undefined): T[] {
  return (list ?? []).filter((s) => isNum(s.t)).sort((a, b) => a.t - b.t)
}

function section(id: string, title: string, inner: string): string {
  return `<section id="${id}"><h2>${esc(title)}</h2>\n${inner}\n</section>`
}

function figure(svg: string, caption: string, legend = ''): string {
  return `<figure>${svg}${legend}<figcaption>${caption}</figcaption></figure>`
}

function legendHtml(items: { color: string; label: string; kind?: 'line' | 'dash' | 'dot' | 'fault' }[]): string {
  const li = items.map((i) => {
    const sw = i.kind === 'dot' ? 'dot' : i.kind === 'dash' ? 'sw dash' : i.kind === 'fault' ? 'sw fault' : 'sw'
    const style = i.kind === 'dash' || i.kind === 'fault' ? `border-color:${i.color}` : `background:${i.color}`
    return `<span><i class="${sw}" style="${esc(style)}"></i>${esc(i.label)}</span>`
  })
  return `<div class="legend">${li.join('')}</div>`
}

function marksLegend(ctx: Ctx): { color: string; label: string; kind: 'fault' | 'dash' }[] {
  const out: { color: string; label: string; kind: 'fault' | 'dash' }[] = []
  if (ctx.marks.faults.length > 0) out.push({ color: FAULT, label: `fault (${ctx.marks.faults.length})`, kind: 'fault' })
  if (ctx.marks.settledAtMs != null) out.push({ color: '#2f7d4f', label: `settled at ${fmtT(ctx.marks.settledAtMs)} s (fault phase shaded)`, kind: 'dash' })
  return out
}

// ---------------------------------------------------------------- header, invariants, figures

function header(ctx: Ctx, verdict: string): string {
  const r = ctx.r
  const inv = Object.values(r.invariants ?? {})
  const failed = inv.filter((i) => i?.ok !== true).length
  const meta: [string, string][] = [
    ['seed', String(r.seed)],
    ['mode', String(r.mode)],
    ['nodes', String((r.nodes ?? []).length)],
    ['files', String((r.files ?? []).length)],
    ['duration', fmtMs(r.durationMs)],
    ['settled at', isNum(r.settledAtMs) ? `${fmtT(r.settledAtMs)} s` : '—'],
    ['faults', String((r.faults ?? []).length)],
    ['events', String((r.events ?? []).length)],
    ['started', String(r.startedAt ?? '—')],
  ]
  if (r.scenario?.file != null) meta.push(['scenario file', r.scenario.file])
  const cls = verdict === 'PASS' ? 'pass' : verdict === 'FAIL' ? 'fail' : 'none'
  const sub = verdict === 'NO CHECKS' ? 'no invariants were checked' : `${inv.length - failed} of ${inv.length} invariants held`
  return `<header>
<div class="head"><div><div class="kicker">meshsync simulation</div><h1>${esc(r.scenario?.name ?? '(unnamed)')}</h1>${r.scenario?.description != null ? `<p class="desc">${esc(r.scenario.description)}</p>` : ''}</div>
<div class="verdict ${cls}" data-verdict="${esc(verdict)}">${esc(verdict)}<small>${esc(sub)}</small></div></div>
<dl class="meta">${meta.map(([k, v]) => `<div><dt>${esc(k)}</dt><dd>${esc(v)}</dd></div>`).join('')}</dl>
</header>`
}

function nav(): string {
  const links = [
    ['invariants', 'Invariants'],
    ['figures', 'Figures'],
    ['copies', 'Copies'],
    ['bytes', 'Bytes moved'],
    ['disk', 'Disk'],
    ['latency', 'Latency'],
    ['timeline', 'Timeline'],
    ['files', 'Files'],
    ['nodes', 'Nodes'],
    ['events', 'Events'],
  ]
  return `<nav>${links.map(([id, t]) => `<a href="#${id}">${t}</a>`).join('')}</nav>`
}

/** JSON.stringify that survives bigints and cycles; strings stay unquoted. */
function pretty(v: unknown): string {
  if (v === undefined) return ''
  if (typeof v === 'string') return v
  const stack: unknown[] = []
  try {
    return (
      JSON.stringify(
        v,
        function (this: unknown, _k, x: unknown) {
          if (typeof x === 'bigint') return x.toString()
          if (typeof x === 'object' && x !== null) {
            while (stack.length > 0 && stack[stack.length - 1] !== this) stack.pop()
            if (stack.includes(x)) return '[circular]'
            stack.push(x)
          }
          return x
        },
        2,
      ) ?? String(v)
    )
  } catch {
    return String(v)
  }
}

const DETAIL_INLINE_CHARS = 400
const DETAIL_INLINE_LINES = 8
const DETAIL_MAX_CHARS = 100_000

function detailHtml(v: unknown): string {
  let text = pretty(v)
  if (text === '') return '<span class="muted">—</span>'
  if (text.length > DETAIL_MAX_CHARS) text = `${text.slice(0, DETAIL_MAX_CHARS)}\n… ${fmtNum(text.length - DETAIL_MAX_CHARS)} more characters`
  const lines = text.split('\n')
  if (text.length <= DETAIL_INLINE_CHARS && lines.length <= DETAIL_INLINE_LINES) return `<pre>${esc(text)}</pre>`
  const head = clip(lines.slice(0, DETAIL_INLINE_LINES).join('\n'), DETAIL_INLINE_CHARS)
  return `<pre>${esc(head)}</pre><details><summary>show all (${fmtNum(lines.length)} lines, ${fmtNum(text.length)} chars)</summary><pre>${esc(text)}</pre></details>`
}

function invariantsSection(ctx: Ctx): string {
  const entries = Object.entries(ctx.r.invariants ?? {})
  if (entries.length === 0) return section('invariants', 'Invariants', '<p class="muted">No invariants were checked.</p>')
  const rows = entries.map(([name, inv]) => {
    const ok = inv?.ok === true
    return `<tr data-invariant="${esc(name)}" data-ok="${ok}"${ok ? '' : ' class="bad"'}><td class="name">${esc(name)}</td><td>${ok ? '<span class="ok">ok</span>' : '<span class="failed">FAIL</span>'}</td><td>${detailHtml(inv?.detail)}</td></tr>`
  })
  return section('invariants', 'Invariants', `<table class="inv"><thead><tr><th>invariant</th><th>result</th><th>detail</th></tr></thead><tbody>${rows.join('')}</tbody></table>`)
}

function humanFigure(key: string, v: number | string | null): string {
  if (!isNum(v)) return ''
  if (/bytes/i.test(key)) return fmtBytes(v)
  if (/Ms$/.test(key)) return fmtMs(v)
  if (/factor|ratio/i.test(key)) return `${fmtNum(v)}×`
  return ''
}

function figuresSection(ctx: Ctx): string {
  const entries = Object.entries(ctx.r.figures ?? {})
  if (entries.length === 0) return section('figures', 'Figures', '<p class="muted">No figures.</p>')
  const rows = entries.map(([k, v]) => {
    const raw = v == null ? '—' : typeof v === 'number' ? (Number.isFinite(v) ? fmtNum(v) : 'n/a') : String(v)
    return `<tr><td class="name">${esc(k)}</td><td class="num">${esc(raw)}</td><td class="muted">${esc(humanFigure(k, v))}</td></tr>`
  })
  return section('figures', 'Figures', `<table class="fig"><thead><tr><th>figure</th><th class="num">value</th><th></th></tr></thead><tbody>${rows.join('')}</tbody></table>`)
}

// ---------------------------------------------------------------- copies

interface FileLine {
  key: string
  file: SimReportFile | undefined
  min: number
  vals: Float64Array
  /** Sample index from which the file should hold min copies (reached min, or acked); -1: never. */
  guard: number
  lowest: number
  bad: boolean
}

function mostCommon(values: number[]): number | undefined {
  const counts = new Map<number, number>()
  for (const v of values) if (isNum(v)) counts.set(v, (counts.get(v) ?? 0) + 1)
  let best: number | undefined
  let bestCount = 0
  for (const [v, c] of counts) {
    if (c > bestCount || (c === bestCount && best != null && v < best)) {
      best = v
      bestCount = c
    }
  }
  return best
}

function label(f: SimReportFile | undefined, key: string): string {
  return f != null ? f.path : key.slice(0, 12)
}

function copiesSection(ctx: Ctx): string {
  const r = ctx.r
  const samples = byT(r.series?.copies)
  const files = r.files ?? []
  const full = new Map<string, SimReportFile>()
  const short = new Map<string, SimReportFile>()
  for (const f of files) {
    const sha = String(f.sha256).toLowerCase()
    full.set(sha, f)
    if (!short.has(sha.slice(0, 12))) short.set(sha.slice(0, 12), f)
  }
  const lookup = (k: string) => full.get(k.toLowerCase()) ?? short.get(k.slice(0, 12).toLowerCase())
  const mins = files.map((f) => f.minCopies).filter(isNum)
  const commonMin = mostCommon(mins)
  const distinctMins = [...new Set(mins)].sort((a, b) => a - b)

  // one row of values per key, NaN where the key is absent from a sample
  const lines = new Map<string, FileLine>()
  let maxVal = 0
  samples.forEach((s, i) => {
    for (const [key, v] of Object.entries(s.files ?? {})) {
      if (!isNum(v)) continue
      let line = lines.get(key)
      if (line == null) {
        const file = lookup(key)
        line = { key, file, min: file?.minCopies ?? commonMin ?? 0, vals: new Float64Array(samples.length).fill(Number.NaN), guard: -1, lowest: Number.POSITIVE_INFINITY, bad: false }
        lines.set(key, line)
      }
      line.vals[i] = v
      if (v > maxVal) maxVal = v
    }
  })
  const under = new Array<number>(samples.length).fill(0)
  const pending = new Array<number>(samples.length).fill(0)
  for (const line of lines.values()) {
    const acked = line.file?.ackedAtMs
    let last = Number.NaN
    for (let i = 0; i < samples.length; i++) {
      const v = line.vals[i]!
      if (!isNum(v)) continue
      last = v
      if (line.guard < 0 && (v >= line.min || (isNum(acked) && samples[i]!.t >= acked))) line.guard = i
      if (line.guard >= 0 && i >= line.guard) {
        line.lowest = Math.min(line.lowest, v)
        if (v < line.min) under[i]!++
      } else if (v < line.min) pending[i]!++
    }
    const final = line.file?.finalCopies
    line.bad = line.lowest < line.min || (isNum(last) && last < line.min) || (isNum(final) && final < line.min)
  }

  const all = [...lines.values()]
  const bad = all.filter((l) => l.bad).sort((a, b) => a.lowest - a.min - (b.lowest - b.min) || cmp(a.key, b.key))
  const good = all.filter((l) => !l.bad).sort((a, b) => cmp(label(a.file, a.key), label(b.file, b.key)))
  const shownBad = bad.slice(0, MAX_FILE_LINES)
  const room = MAX_FILE_LINES - shownBad.length
  const shownGood = good.length <= room ? good : Array.from({ length: room }, (_, j) => good[Math.floor((j * good.length) / room)]!)

  const yMax = Math.max(2, niceMax(Math.max(maxVal, commonMin ?? 0) + 1, 6, 1))
  const xs = samples.map((s) => s.t)
  const toPoints = (l: FileLine) => Array.from(l.vals, (v, i) => (isNum(v) ? ([xs[i]!, v] as const) : null))
  const series: LineSeries[] = [
    ...shownGood.map((l, i) => ({
      color: `hsl(${205 + ((i * 23) % 50)} 45% ${42 + (i % 3) * 9}%)`,
      points: toPoints(l),
      title: `${label(l.file, l.key)} (min ${l.min})`,
      step: true,
      width: 1.25,
      opacity: 0.75,
      dy: ((i % 7) - 3) * 0.7,
    })),
    ...shownBad.map((l, i) => ({
      color: RED,
      points: toPoints(l),
      title: `${label(l.file, l.key)}: fell to ${Number.isFinite(l.lowest) ? l.lowest : '?'} (min ${l.min})`,
      step: true,
      width: 2,
      dy: ((i % 5) - 2) * 0.7,
    })),
  ]
  const axesOpts = { ...ctx.timeAxis, yTicks: niceTicks(0, yMax, 6, 1), yLabel: String, yTitle: 'verified copies' }
  const svg =
    samples.length === 0 || all.length === 0
      ? emptyChart(W, 200, 'copies per file', 'no copies samples')
      : lineChart({
          id: 'copies',
          label: 'copies per file over time',
          W,
          H: 380,
          xDomain: ctx.xDomain,
          yDomain: [0, yMax],
          axes: axesOpts,
          series,
          hlines: commonMin != null ? [{ y: commonMin, label: `minCopies ${commonMin}`, color: '#7a4a00' }] : [],
          marks: ctx.marks,
        })
  const shown = shownBad.length + shownGood.length
  const notes: string[] = []
  if (all.length > shown) notes.push(`Showing ${shown} of ${fmtNum(all.length)} files: ${bad.length > shownBad.length ? `${shownBad.length} of the ${bad.length}` : `all ${shownBad.length}`} that went below their minCopies, plus ${shownGood.length} of the others sampled evenly by path.`)
  else if (all.length > 0) notes.push(`All ${fmtNum(all.length)} files.`)
  notes.push('<b class="red">Red</b>: the file fell below its minCopies after having reached it (or after its write was acked), or ended below it. Lines are offset by a pixel or two so coinciding files stay visible.')
  if (distinctMins.length > 1) notes.push(`minCopies differs between files (${distinctMins.join(', ')}); the dashed line is the most common (${commonMin}), red uses each file's own.`)
  if (bad.length > 0)
    notes.push(
      `Below min: ${bad
        .slice(0, 8)
        .map((l) => `<code>${esc(clip(label(l.file, l.key), 60))}</code>`)
        .join(', ')}${bad.length > 8 ? ` and ${bad.length - 8} more` : ''}.`,
    )
  const legend = legendHtml([{ color: '#6d8fb5', label: 'copies of one file' }, { color: RED, label: 'went below min' }, ...(commonMin != null ? [{ color: '#7a4a00', label: 'minCopies', kind: 'dash' as const }] : []), ...marksLegend(ctx)])

  const countMax = Math.max(1, ...under, ...pending)
  const yTop = niceMax(countMax, 5, 1)
  const countSvg =
    samples.length === 0 || all.length === 0
      ? ''
      : lineChart({
          id: 'undermin',
          label: 'files below minCopies over time',
          W,
          H: 230,
          xDomain: ctx.xDomain,
          yDomain: [0, yTop],
          axes: { ...ctx.timeAxis, yTicks: niceTicks(0, yTop, 5, 1), yLabel: String, yTitle: 'files' },
          series: [
            { color: '#8a94a6', points: xs.map((t, i) => [t, pending[i]!] as const), title: 'not yet at min (still replicating)', step: true, width: 1.5 },
            { color: RED, points: xs.map((t, i) => [t, under[i]!] as const), title: 'below min after having reached it', step: true, width: 2 },
          ],
          marks: ctx.marks,
        })
  const countFig =
    countSvg === ''
      ? ''
      : figure(
          countSvg,
          `All ${fmtNum(all.length)} files, per sample: peak ${fmtNum(Math.max(0, ...under))} below min after having reached it.`,
          legendHtml([{ color: RED, label: 'below min after having reached it' }, { color: '#8a94a6', label: 'not yet at min (new file still replicating)' }, ...marksLegend(ctx)]),
        )
  return section('copies', 'Copies per file', figure(svg, notes.join(' '), legend) + countFig)
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}

// ---------------------------------------------------------------- per-node series

interface NodeLines {
  names: string[]
  points: Map<string, (readonly [number, number] | null)[]>
  last: Map<string, number>
  peak: Map<string, number>
  max: number
}

function nodeLines(ctx: Ctx, samples: NodeSample[]): NodeLines {
  const points = new Map<string, (readonly [number, number] | null)[]>()
  const last = new Map<string, number>()
  const peak = new Map<string, number>()
  let max = 0
  for (const s of samples) {
    for (const [name, v] of Object.entries(s.nodes ?? {})) {
      if (!isNum(v)) continue
      let p = points.get(name)
      if (p == null) {
        p = []
        points.set(name, p)
      }
      p.push([s.t, v])
      last.set(name, v)
      if (v > (peak.get(name) ?? Number.NEGATIVE_INFINITY)) peak.set(name, v)
      if (v > max) max = v
    }
  }
  return { names: ctx.nodeNames.filter((x) => points.has(x)), points, last, peak, max }
}

function nodeLegend(ctx: Ctx, names: string[]): string {
  return legendHtml([...names.map((name) => ({ color: ctx.nodeColor.get(name) ?? '#888', label: clip(name, 28) })), ...marksLegend(ctx)])
}

function bytesSection(ctx: Ctx): string {
  const nl = nodeLines(ctx, byT(ctx.r.series?.bytesMoved))
  if (nl.names.length === 0) return section('bytes', 'Bytes moved', emptyChart(W, 160, 'bytes moved per node', 'no bytesMoved samples') + emptyChart(W, 80, 'total bytes per node', 'no totals'))
  const bt = byteTicks(nl.max)
  const svg = lineChart({
    id: 'bytes',
    label: 'cumulative bytes received per node',
    W,
    H: 360,
    xDomain: ctx.xDomain,
    yDomain: [0, bt.max],
    axes: { ...ctx.timeAxis, yTicks: bt.ticks, yLabel: bt.label, yTitle: 'bytes received (cumulative)' },
    series: nl.names.map((name) => ({ color: ctx.nodeColor.get(name)!, points: nl.points.get(name)!, title: `${name}: ${fmtBytes(nl.last.get(name)!)}`, width: 1.5 })),
    marks: ctx.marks,
  })
  const bars: Bar[] = nl.names
    .map((name) => ({ label: name, value: nl.last.get(name) ?? 0, color: ctx.nodeColor.get(name)!, title: `${name}: ${fmtBytes(nl.last.get(name) ?? 0)}` }))
    .sort((a, b) => b.value - a.value || cmp(a.label, b.label))
  const total = bars.reduce((s, b) => s + b.value, 0)
  const bmax = byteTicks(bars[0]?.value ?? 0)
  const barSvg = barChart({ label: 'total bytes received per node', W, bars, format: fmtBytes, ticks: bmax.ticks, max: bmax.max, tickLabel: bmax.label })
  const needed = ctx.r.figures?.bytesNeeded
  const cmpNeeded = isNum(needed) && needed > 0 ? ` The run needed ${fmtBytes(needed)}: ${(total / needed).toFixed(2)}× that.` : ''
  return section(
    'bytes',
    'Bytes moved',
    figure(svg, 'Cumulative bytes received per node.', nodeLegend(ctx, nl.names)) + figure(barSvg, `Total received at the end, by node: ${fmtBytes(total)} in all.${cmpNeeded}`),
  )
}

function diskSection(ctx: Ctx): string {
  const nl = nodeLines(ctx, byT(ctx.r.series?.disk))
  if (nl.names.length === 0) return section('disk', 'Disk used', emptyChart(W, 160, 'disk used per node', 'no disk samples'))
  const top = nl.max > 1 ? niceMax(nl.max, 5) : 1
  const svg = lineChart({
    id: 'disk',
    label: 'disk used per node over time',
    W,
    H: 320,
    xDomain: ctx.xDomain,
    yDomain: [0, top],
    axes: { ...ctx.timeAxis, yTicks: niceTicks(0, top, 4), yLabel: (v) => `${Math.round(v * 100)}%`, yTitle: 'disk used' },
    series: nl.names.map((name) => ({ color: ctx.nodeColor.get(name)!, points: nl.points.get(name)!, title: `${name}: peak ${fmtPct(nl.peak.get(name)!)}, end ${fmtPct(nl.last.get(name)!)}`, width: 1.5 })),
    marks: ctx.marks,
  })
  const fullest = [...nl.names].sort((a, b) => nl.peak.get(b)! - nl.peak.get(a)! || cmp(a, b)).slice(0, 3)
  return section('disk', 'Disk used', figure(svg, `Used fraction of each node's disk. Fullest: ${fullest.map((x) => `${esc(x)} ${fmtPct(nl.peak.get(x)!)}`).join(', ')}.`, nodeLegend(ctx, nl.names)))
}

// ---------------------------------------------------------------- latency

function sortedFinite(values: readonly number[] | undefined): number[] {
  return Array.from(Float64Array.from((values ?? []).filter(isNum)).sort())
}

function latencySection(ctx: Ctx): string {
  const gossip = sortedFinite(ctx.r.latency?.gossipMs)
  const transfer = sortedFinite(ctx.r.latency?.transferMs)
  const row = (name: string, s: number[], color: string) => {
    if (s.length === 0) return `<tr><td class="name"><i class="sw" style="background:${color}"></i>${name}</td><td class="num">0</td><td class="num muted" colspan="5">no samples</td></tr>`
    const mean = s.reduce((a, b) => a + b, 0) / s.length
    const cells = [percentile(s, 50), percentile(s, 90), percentile(s, 99), s[s.length - 1]!, mean].map((v) => `<td class="num">${esc(fmtMs(v))}</td>`)
    return `<tr><td class="name"><i class="sw" style="background:${color}"></i>${name}</td><td class="num">${fmtNum(s.length)}</td>${cells.join('')}</tr>`
  }
  const table = `<table class="lat"><thead><tr><th>latency</th><th class="num">samples</th><th class="num">p50</th><th class="num">p90</th><th class="num">p99</th><th class="num">max</th><th class="num">mean</th></tr></thead><tbody>${row('gossip', gossip, '#4e79a7')}${row('transfer', transfer, '#f28e2b')}</tbody></table>`
  const svg = cdfChart({
    label: 'latency CDF',
    W,
    H: 300,
    series: [
      { label: 'gossip', color: '#4e79a7', sorted: gossip },
      { label: 'transfer', color: '#f28e2b', sorted: transfer },
    ],
    pct: percentile,
  })
  return section('latency', 'Latency', table + figure(svg, 'Cumulative distribution: the share of samples at or below each latency. Circles mark p50 and p99.'))
}

// ---------------------------------------------------------------- timeline

function timelineSection(ctx: Ctx): string {
  const events = byT(ctx.r.events)
  const faults = byT(ctx.r.faults)
  const rows = ctx.nodeNames.length > 0 ? ctx.nodeNames : ['(none)']
  const rowIndex = new Map(rows.map((x, i) => [x, i]))
  const typeCount = new Map<string, number>()
  for (const e of events) typeCount.set(String(e.type), (typeCount.get(String(e.type)) ?? 0) + 1)
  const types = [...typeCount.keys()].sort()
  const typeIdx = new Map(types.map((t, i) => [t, i]))
  const typeColor = (t: string) => palette(typeIdx.get(t) ?? 0, types.length)
  const fates = new Map((ctx.r.nodes ?? []).map((x) => [x.name, x.fate]))

  const rowH = rows.length <= 60 ? 16 : Math.max(5, Math.floor(960 / rows.length))
  const top = marksTop(ctx.marks)
  const H = top + rows.length * rowH + 44
  const f = frame(W, H, { left: 170, right: 18, top, bottom: 44 }, (r) => linear(ctx.xDomain, r), (r) => linear([rows.length, 0], r))
  const out: string[] = [svgOpen(W, H, 'events by node over time'), settledShade(f, ctx.marks)]
  out.push('<g class="rows">')
  rows.forEach((name, i) => {
    const y = f.y(i)
    if (i % 2 === 1) out.push(`<rect x="${f.left}" y="${n(y)}" width="${n(f.w)}" height="${rowH}" fill="#f4f6f9"/>`)
    if (rowH >= 8) {
      const fate = fates.get(name)
      const dead = fate === 'killed' || fate === 'gone'
      out.push(`<text x="${f.left - 6}" y="${n(y + rowH / 2 + 3.5)}" text-anchor="end"${dead ? ' class="dead"' : ''}>${esc(clip(name, 24))}${fate != null && fate !== 'alive' ? ` (${esc(fate)})` : ''}<title>${esc(name)}</title></text>`)
    }
  })
  out.push('</g>')
  out.push(axes(f, { ...ctx.timeAxis, yTicks: [], yLabel: String, yTitle: '' }))
  const mid = (i: number) => f.y(i) + rowH / 2
  let mode: string
  if (events.length <= MAX_EVENT_DOTS) {
    mode = 'one dot per event'
    const r = Math.max(1.5, Math.min(3, rowH / 4))
    for (const e of events) {
      const i = rowIndex.get(e.node) ?? 0
      const ti = typeIdx.get(String(e.type)) ?? 0
      const dy = rowH >= 12 ? ((ti % 5) - 2) * (rowH / 10) : 0
      const title = [`${fmtT(e.t)} s`, e.node, e.type, e.path, e.peer != null ? `peer ${e.peer}` : undefined, e.detail].filter((x) => x != null && x !== '').join(' · ')
      out.push(`<circle cx="${n(f.x(e.t))}" cy="${n(mid(i) + dy)}" r="${r}" fill="${esc(typeColor(String(e.type)))}" fill-opacity="0.85"><title>${esc(clip(title, 300))}</title></circle>`)
    }
  } else {
    // counts per (node, time bucket), drawn as small stacked bars coloured by type
    const buckets = Math.max(20, Math.min(Math.floor(f.w / 3), Math.floor(6000 / rows.length)))
    const span = ctx.xDomain[1] - ctx.xDomain[0]
    const bw = span / buckets
    const cells = new Map<number, Map<number, number>>()
    for (const e of events) {
      const i = rowIndex.get(e.node) ?? 0
      const b = Math.min(buckets - 1, Math.max(0, Math.floor((e.t - ctx.xDomain[0]) / bw)))
      const key = i * buckets + b
      let c = cells.get(key)
      if (c == null) {
        c = new Map()
        cells.set(key, c)
      }
      const ti = typeIdx.get(String(e.type)) ?? 0
      c.set(ti, (c.get(ti) ?? 0) + 1)
    }
    let maxCell = 1
    for (const c of cells.values()) {
      let s = 0
      for (const v of c.values()) s += v
      if (s > maxCell) maxCell = s
    }
    mode = `events counted in ${fmtMs(bw)} buckets per node; bar height ∝ √count (tallest ${fmtNum(maxCell)} events)`
    const pxw = Math.max(1, f.w / buckets - 0.6)
    const keys = [...cells.keys()].sort((a, b) => a - b)
    for (const key of keys) {
      const c = cells.get(key)!
      const i = Math.floor(key / buckets)
      const b = key % buckets
      let total = 0
      for (const v of c.values()) total += v
      const h = Math.max(2, (rowH - 2) * Math.sqrt(total / maxCell))
      const x = f.x(ctx.xDomain[0] + b * bw)
      let y = f.y(i) + rowH - 1
      const parts: string[] = []
      const summary: string[] = []
      for (const ti of [...c.keys()].sort((a, z) => a - z)) {
        const v = c.get(ti)!
        const sh = (h * v) / total
        y -= sh
        parts.push(`<rect x="${n(x)}" y="${n(y)}" width="${n(pxw)}" height="${n(sh)}" fill="${esc(palette(ti, types.length))}"/>`)
        summary.push(`${types[ti]} ${v}`)
      }
      out.push(`<g><title>${esc(`${rows[i]} · ${fmtT(ctx.xDomain[0] + b * bw)}–${fmtT(ctx.xDomain[0] + (b + 1) * bw)} s · ${total}: ${summary.join(', ')}`)}</title>${parts.join('')}</g>`)
    }
  }
  // faults on a node: a marker on its row
  for (const fl of faults) {
    if (fl.node == null || !rowIndex.has(fl.node)) continue
    const x = f.x(fl.t)
    const y = f.y(rowIndex.get(fl.node)!)
    out.push(`<path d="M${n(x - 4.5)},${n(y)}L${n(x + 4.5)},${n(y)} ${n(x)},${n(y + Math.min(8, rowH - 2))}z" fill="${FAULT}" class="fmark"><title>${esc([`${fmtT(fl.t)} s`, fl.type, fl.node, fl.detail].filter((z) => z != null && z !== '').join(' · '))}</title></path>`)
  }
  out.push(timeMarks(f, ctx.marks), '</svg>')
  const svg = events.length === 0 && faults.length === 0 ? emptyChart(W, 120, 'events by node over time', 'no events') : out.join('')
  const legend = legendHtml([
    ...types.map((t) => ({ color: typeColor(t), label: `${clip(t, 30)} (${fmtNum(typeCount.get(t)!)})`, kind: 'dot' as const })),
    ...(faults.some((x) => x.node != null) ? [{ color: FAULT, label: '▼ fault on this node', kind: 'dot' as const }] : []),
    ...marksLegend(ctx),
  ])
  const faultRows = faults.slice(0, 1000).map((x) => `<tr><td class="num">${fmtT(x.t)}</td><td>${esc(x.type)}</td><td>${esc(x.node ?? '')}</td><td>${esc(x.detail ?? '')}</td></tr>`)
  const faultTable =
    faults.length === 0
      ? '<p class="muted">No faults were injected.</p>'
      : `<details${faults.length <= 30 ? ' open' : ''}><summary>${fmtNum(faults.length)} faults${faults.length > 1000 ? ' (first 1000 shown)' : ''}</summary><table><thead><tr><th class="num">t (s)</th><th>fault</th><th>node</th><th>detail</th></tr></thead><tbody>${faultRows.join('')}</tbody></table></details>`
  return section('timeline', 'Timeline', figure(svg, `Events by node (${fmtNum(events.length)} events; ${mode}).`, legend) + faultTable)
}

// ---------------------------------------------------------------- tables

function filesSection(ctx: Ctx): string {
  const files = ctx.r.files ?? []
  if (files.length === 0) return section('files', 'Files', '<p class="muted">No files.</p>')
  const isBad = (f: SimReportFile) => isNum(f.finalCopies) && isNum(f.minCopies) && f.finalCopies < f.minCopies
  const sorted = [...files.filter(isBad), ...files.filter((f) => !isBad(f))]
  const shown = sorted.slice(0, MAX_FILE_ROWS)
  const badCount = files.length - sorted.filter((f) => !isBad(f)).length
  const rows = shown.map((f) => {
    const bad = isBad(f)
    return `<tr${bad ? ' class="bad"' : ''}><td class="path">${esc(f.path)}</td><td class="mono" title="${esc(f.sha256)}">${esc(String(f.sha256).slice(0, 12))}</td><td class="num">${esc(fmtBytes(f.size))}</td><td>${esc(f.kind)}</td><td>${esc(f.origin)}</td><td class="num">${esc(f.minCopies)}</td><td class="num${bad ? ' failed' : ''}">${esc(f.finalCopies)}</td><td class="num">${fmtT(f.createdAtMs)}</td><td class="num">${isNum(f.ackedAtMs) ? fmtT(f.ackedAtMs) : '<span class="muted">never</span>'}</td></tr>`
  })
  const omitted = files.length - shown.length
  const note = `<p class="muted">${fmtNum(files.length)} files, ${badCount > 0 ? `<b class="red">${fmtNum(badCount)} ended below minCopies</b> (listed first)` : 'none ended below minCopies'}.${omitted > 0 ? ` ${fmtNum(omitted)} more rows omitted.` : ''}</p>`
  return section(
    'files',
    'Files',
    `${note}<div class="scroll"><table><thead><tr><th>path</th><th>sha256</th><th class="num">size</th><th>kind</th><th>origin</th><th class="num">min</th><th class="num">final copies</th><th class="num">created (s)</th><th class="num">acked (s)</th></tr></thead><tbody>${rows.join('')}</tbody></table></div>`,
  )
}

function nodesSection(ctx: Ctx): string {
  const nodes = ctx.r.nodes ?? []
  if (nodes.length === 0) return section('nodes', 'Nodes', '<p class="muted">No nodes.</p>')
  const bytes = nodeLines(ctx, byT(ctx.r.series?.bytesMoved)).last
  const disk = nodeLines(ctx, byT(ctx.r.series?.disk)).last
  const evCount = new Map<string, number>()
  for (const e of ctx.r.events ?? []) evCount.set(e.node, (evCount.get(e.node) ?? 0) + 1)
  const rows = nodes.map((x) => {
    const fate = x.fate ?? 'alive'
    return `<tr><td class="name"><i class="sw" style="background:${esc(ctx.nodeColor.get(x.name) ?? '#888')}"></i>${esc(x.name)}</td><td class="mono" title="${esc(x.peerId)}">${esc(clip(String(x.peerId), 16))}</td><td>${esc(x.role)}</td><td>${esc(x.provider)}</td><td>${x.ephemeral ? 'yes' : 'no'}</td><td><span class="fate fate-${esc(fate)}">${esc(fate)}</span></td><td class="num">${bytes.has(x.name) ? esc(fmtBytes(bytes.get(x.name)!)) : '—'}</td><td class="num">${disk.has(x.name) ? esc(fmtPct(disk.get(x.name)!)) : '—'}</td><td class="num">${fmtNum(evCount.get(x.name) ?? 0)}</td></tr>`
  })
  return section(
    'nodes',
    'Nodes',
    `<div class="scroll"><table><thead><tr><th>name</th><th>peer id</th><th>role</th><th>provider</th><th>ephemeral</th><th>fate</th><th class="num">bytes received</th><th class="num">disk at end</th><th class="num">events</th></tr></thead><tbody>${rows.join('')}</tbody></table></div>`,
  )
}

function eventsSection(ctx: Ctx): string {
  const events: SimEvent[] = byT(ctx.r.events)
  if (events.length === 0) return section('events', 'Events', '<p class="muted">No events.</p>')
  const shown = events.slice(0, MAX_EVENT_ROWS)
  const rows = shown.map(
    (e) =>
      `<tr><td class="num">${fmtT(e.t)}</td><td>${esc(e.node)}</td><td>${esc(e.type)}</td><td class="path">${esc(e.path ?? '')}</td><td class="mono">${esc(clip(e.peer ?? '', 16))}</td><td>${esc(clip(e.detail ?? '', 500))}</td></tr>`,
  )
  const omitted = events.length - shown.length
  const summary = `${fmtNum(events.length)} events${omitted > 0 ? ` (first ${fmtNum(shown.length)} by time shown, ${fmtNum(omitted)} omitted)` : ''}`
  return section(
    'events',
    'Events',
    `<details><summary>${summary}</summary><div class="scroll tall"><table><thead><tr><th class="num">t (s)</th><th>node</th><th>type</th><th>path</th><th>peer</th><th>detail</th></tr></thead><tbody>${rows.join('')}</tbody></table></div></details>`,
  )
}

// ---------------------------------------------------------------- style

const CSS = `
:root{color-scheme:light;--fg:#1c2230;--muted:#5d6676;--line:#dde2ea;--pass:#1a7f37;--fail:#cf222e}
*{box-sizing:border-box}
body{margin:0;background:#f3f5f8;color:var(--fg);font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
main{max-width:1180px;margin:0 auto;padding:20px 24px 40px}
header,section{background:#fff;border:1px solid var(--line);border-radius:10px;padding:16px 20px;margin:0 0 16px}
.head{display:flex;justify-content:space-between;align-items:flex-start;gap:24px}
.kicker{text-transform:uppercase;letter-spacing:.08em;font-size:11px;color:var(--muted)}
h1{margin:2px 0 4px;font-size:24px;word-break:break-word}
h2{margin:0 0 12px;font-size:17px}
.desc{margin:4px 0 0;color:var(--muted);max-width:760px}
.verdict{flex:none;min-width:150px;text-align:center;color:#fff;font-size:36px;font-weight:800;letter-spacing:.04em;border-radius:10px;padding:10px 22px;line-height:1.1}
.verdict small{display:block;font-size:12px;font-weight:500;letter-spacing:0;opacity:.92;margin-top:4px}
.verdict.pass{background:var(--pass)}.verdict.fail{background:var(--fail)}.verdict.none{background:#6e7781}
.meta{display:flex;flex-wrap:wrap;gap:8px 28px;margin:14px 0 0}
.meta div{min-width:70px}.meta dt{font-size:11px;text-transform:uppercase;letter-spacing:.06em;color:var(--muted)}.meta dd{margin:0;font-weight:600}
nav{display:flex;flex-wrap:wrap;gap:6px;margin:0 0 16px}
nav a{color:#0b57d0;text-decoration:none;background:#fff;border:1px solid var(--line);border-radius:999px;padding:3px 12px;font-size:13px}
table{border-collapse:collapse;width:100%;font-size:13px}
th,td{text-align:left;padding:4px 8px;border-bottom:1px solid #edf0f4;vertical-align:top}
th{background:#f6f8fa;font-weight:600;position:sticky;top:0;z-index:1}
th.num,td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td.name{font-weight:600;white-space:nowrap}
td.path{word-break:break-all;font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12px}
.mono,code{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12px}
tr.bad td{background:#fff0f0}
.ok{color:var(--pass);font-weight:700}.failed,.red{color:var(--fail);font-weight:700}
.muted{color:var(--muted)}
table.inv td:nth-child(2){width:70px}
table.fig{width:auto;min-width:480px}
table.lat{width:auto;min-width:640px;margin-bottom:12px}
pre{margin:0;font:12px/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;white-space:pre-wrap;word-break:break-word}
details summary{cursor:pointer;color:#0b57d0;font-size:13px;margin:4px 0}
.scroll{max-height:560px;overflow:auto;border:1px solid #edf0f4;border-radius:6px}
.scroll.tall{max-height:720px}
figure{margin:0 0 18px}
figcaption{color:var(--muted);font-size:12.5px;margin:6px 0 0;max-width:1000px}
svg{display:block;max-width:100%;height:auto;font-family:system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif}
svg text{font-size:11px;fill:#5d6676}
svg text.title{font-size:12px;fill:#39404d}
svg text.msg{font-size:13px;fill:#8a94a6}
svg text.flabel{font-size:9.5px;fill:#b3261e}
svg text.slabel{font-size:10px;fill:#2f7d4f}
svg text.hlabel{font-size:10.5px;font-weight:600}
svg text.dead{fill:#9aa3b0;font-style:italic}
svg .grid{stroke:#e9edf2;stroke-width:1}
svg .axis{stroke:#9aa3b0;stroke-width:1}
svg .fault{stroke:#b3261e;stroke-width:1;stroke-dasharray:4 3;stroke-opacity:.65}
svg .settled{stroke:#2f7d4f;stroke-width:1.5}
.legend{display:flex;flex-wrap:wrap;gap:3px 14px;font-size:12px;color:var(--muted);margin:6px 0 0 70px}
.legend span{white-space:nowrap}
.sw{display:inline-block;width:14px;height:3px;border-radius:2px;vertical-align:middle;margin-right:5px}
.sw.dash,.sw.fault{height:0;background:none;border-top:2px dashed}
.dot{display:inline-block;width:9px;height:9px;border-radius:50%;vertical-align:middle;margin-right:5px}
.fate{padding:0 7px;border-radius:999px;font-size:12px;background:#e8f3ec;color:#1a7f37}
.fate-killed,.fate-gone{background:#fde8e8;color:#b3261e}.fate-replaced{background:#fff4d6;color:#7a5200}
footer{color:var(--muted);font-size:12px;text-align:center}
`
