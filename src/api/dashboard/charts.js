// Hand-written SVG charts and DOM helpers for the dashboard (no library: the page must work offline with no build step).

const SVG = 'http://www.w3.org/2000/svg'

/** An element with attributes and children; text is always set as text, never parsed as HTML. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag)
  for (const [k, v] of Object.entries(attrs)) {
    if (v == null || v === false) continue
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v)
    else if (k === 'class') el.className = v
    else el.setAttribute(k, v === true ? '' : String(v))
  }
  for (const c of children.flat()) if (c != null) el.append(c instanceof Node ? c : String(c))
  return el
}

function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG, tag)
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v))
  for (const c of children) el.append(c instanceof Node ? c : document.createTextNode(String(c)))
  return el
}

export function bytes(n) {
  if (n == null || !Number.isFinite(n)) return '–'
  const u = ['B', 'KB', 'MB', 'GB', 'TB', 'PB']
  let i = 0
  let v = n
  while (Math.abs(v) >= 1000 && i < u.length - 1) {
    v /= 1000
    i++
  }
  return `${v.toFixed(i === 0 ? 0 : 1)} ${u[i]}`
}

export function duration(ms) {
  if (ms == null || !Number.isFinite(ms)) return '–'
  const sec = Math.round(ms / 1000)
  if (sec < 60) return `${sec} s`
  if (sec < 3600) return `${Math.floor(sec / 60)} min ${sec % 60} s`
  return `${Math.floor(sec / 3600)} h ${Math.floor((sec % 3600) / 60)} min`
}

/** A disk bar with the push / urgent / cleanup thresholds drawn on it. */
export function diskBar(usedFraction, t) {
  const pct = Math.max(0, Math.min(1, usedFraction ?? 0)) * 100
  const color = usedFraction >= t.urgentAt ? 'var(--bad)' : usedFraction >= t.pushAt ? 'var(--warn)' : 'var(--accent)'
  const bar = h('div', { class: 'disk', role: 'meter', 'aria-valuemin': 0, 'aria-valuemax': 100, 'aria-valuenow': pct.toFixed(0), 'aria-label': `disk ${pct.toFixed(0)}% used` })
  const fill = h('div', { class: 'fill' })
  fill.style.width = `${pct}%`
  fill.style.background = color
  bar.append(fill)
  for (const f of [t.pushAt, t.urgentAt, t.cleanupAt]) {
    const m = h('div', { class: 'mark', title: `${(f * 100).toFixed(0)}%` })
    m.style.left = `${f * 100}%`
    bar.append(m)
  }
  return h('span', { class: 'diskcell' }, bar, ` ${pct.toFixed(0)}%`)
}

/** Files by number of verified copies, with the policy's min and max drawn. */
export function copiesHistogram(p) {
  const n = Math.max(p.histogram.length, p.maxCopies + 2, p.minCopies + 1)
  const w = 200
  const hgt = 80
  const bw = w / n
  const max = Math.max(1, ...p.histogram)
  const svg = s('svg', { viewBox: `0 0 ${w} ${hgt + 14}`, role: 'img', 'aria-label': `${p.name}: files by verified copies` })
  for (let i = 0; i < n; i++) {
    const v = p.histogram[i] ?? 0
    const bh = (v / max) * hgt
    const fill = i < p.minCopies ? '#b42318' : i > p.maxCopies ? '#a15c00' : '#17803d'
    svg.append(s('rect', { x: i * bw + 2, y: hgt - bh, width: Math.max(1, bw - 4), height: bh, fill }, s('title', {}, `${v} file(s) with ${i} copies`)))
    if (n <= 16 || i % Math.ceil(n / 16) === 0) svg.append(s('text', { x: i * bw + bw / 2, y: hgt + 12, 'font-size': 9, 'text-anchor': 'middle' }, i))
  }
  for (const [c, label] of [
    [p.minCopies, 'min'],
    [p.maxCopies + 1, 'max'],
  ]) {
    if (c >= n + 1) continue
    svg.append(s('line', { x1: c * bw, x2: c * bw, y1: 0, y2: hgt, stroke: '#1b1f24', 'stroke-dasharray': '3 2' }))
    svg.append(s('text', { x: c * bw + 2, y: 9, 'font-size': 9 }, label))
  }
  return svg
}

/** In and out rates over time as two lines. */
export function bandwidthChart(series) {
  const w = 400
  const hgt = 100
  const svg = s('svg', { viewBox: `0 0 ${w} ${hgt + 16}`, role: 'img', 'aria-label': 'transfer rate in and out' })
  if (series.length < 2) {
    svg.append(s('text', { x: 4, y: 14, 'font-size': 11 }, 'collecting…'))
    return svg
  }
  const t0 = series[0].tMs
  const t1 = series[series.length - 1].tMs
  const max = Math.max(1, ...series.map((p) => Math.max(p.inRate, p.outRate)))
  const x = (t) => ((t - t0) / Math.max(1, t1 - t0)) * w
  const y = (v) => hgt - (v / max) * (hgt - 4)
  for (const [key, color] of [
    ['inRate', '#1f5fbf'],
    ['outRate', '#17803d'],
  ]) {
    svg.append(s('polyline', { points: series.map((p) => `${x(p.tMs).toFixed(1)},${y(p[key]).toFixed(1)}`).join(' '), fill: 'none', stroke: color, 'stroke-width': 1.5 }))
  }
  svg.append(s('text', { x: 4, y: 10, 'font-size': 10 }, `peak ${bytes(max)}/s`))
  svg.append(s('text', { x: 4, y: hgt + 13, 'font-size': 10, fill: '#1f5fbf' }, 'in'))
  svg.append(s('text', { x: 24, y: hgt + 13, 'font-size': 10, fill: '#17803d' }, 'out'))
  svg.append(s('text', { x: w - 4, y: hgt + 13, 'font-size': 10, 'text-anchor': 'end' }, `last ${duration(t1 - t0)}`))
  return svg
}
