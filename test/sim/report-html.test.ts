import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { MAX_EVENT_ROWS, MAX_FILE_LINES, percentile, renderReportHtml, reportVerdict } from '../../sim/report/html.js'
import type { SimEvent, SimFault, SimReport, SimReportFile, SimReportNode } from '../../sim/report/types.js'

const NASTY_PATH = 'games/<script>alert(1)</script>&.db'
const NASTY_NODE = `n"q'<x>&`

/** Small deterministic PRNG (mulberry32). */
function rng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

interface Shape {
  nodes: number
  files: number
  /** One sample a second. */
  samples: number
  /** Extra background events on top of the ones the copies imply. */
  events: number
  seed?: number
  /** Make one file lose its copies for good and fail convergence + noDataLost. */
  failing?: boolean
}

/**
 * A synthetic but plausible run: files are written during the first half and
 * replicate one copy every few seconds; a node is killed (files on it lose a
 * copy and get repaired), a partition comes and goes, a disk is filled; with
 * `failing`, one file drops to one copy and never recovers.
 */
function makeReport(shape: Shape): SimReport {
  const rand = rng(shape.seed ?? 42)
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!
  const durationMs = shape.samples * 1000
  const at = (f: number) => Math.round(durationMs * f)

  const nodes: SimReportNode[] = Array.from({ length: shape.nodes }, (_, i) => ({
    name: i === 0 ? 'head-0' : `gpu-${String(i).padStart(2, '0')}`,
    peerId: `12D3KooW${(i * 7919).toString(36).padStart(8, 'x')}Qm${'abcdefghij'.repeat(3).slice(i % 10, 30)}`,
    role: i === 0 ? 'head' : i % 5 === 0 ? 'storage' : 'worker',
    provider: i % 3 === 0 ? 'onprem' : i % 3 === 1 ? 'aws-spot' : 'lambda',
    ephemeral: i % 3 === 1,
  }))
  if (shape.nodes > 3) nodes[3]!.name = NASTY_NODE
  const victim = nodes[Math.min(2, nodes.length - 1)]!
  victim.fate = 'killed'
  if (nodes.length > 6) nodes[6]!.fate = 'replaced'
  const names = nodes.map((n) => n.name)

  const faults: SimFault[] = [
    { t: at(0.2), type: 'kill', node: victim.name, detail: 'SIGKILL' },
    { t: at(0.3), type: 'cap-link', node: names[1 % names.length], detail: '20 Mbit/s' },
    { t: at(0.4), type: 'restart', node: victim.name },
    { t: at(0.5), type: 'partition', detail: 'head-0,gpu-01 | rest' },
    { t: at(0.55), type: 'corrupt', node: names[4 % names.length], detail: NASTY_PATH },
    { t: at(0.6), type: 'heal' },
    { t: at(0.65), type: 'fill-disk', node: names[5 % names.length], detail: '97%' },
  ]
  const settledAtMs = at(0.7)

  const kinds = ['safetensors', 'sqlite', 'npz', 'blob']
  const files: SimReportFile[] = []
  const copiesAt: Int16Array[] = []
  const received = names.map(() => new Float64Array(shape.samples))
  const events: SimEvent[] = []
  const lostForGood = shape.failing === true ? 1 : -1
  for (let i = 0; i < shape.files; i++) {
    const sha = Array.from({ length: 8 }, () => Math.floor(rand() * 0xffffffff).toString(16).padStart(8, '0')).join('')
    const kind = pick(kinds)
    const minCopies = i % 17 === 5 ? 2 : 3
    const createdAtMs = Math.round(rand() * durationMs * 0.5)
    const size = Math.round(2 ** (10 + rand() * 18))
    const path = i === 0 ? NASTY_PATH : `runs/exp-${i % 13}/${kind === 'sqlite' ? `db-${i}.sqlite` : `ckpt-${String(i).padStart(4, '0')}.${kind}`}`
    const origin = pick(names)
    const counts = new Int16Array(shape.samples)
    let c = 0
    let next = createdAtMs
    let ackedAtMs: number | undefined
    const onVictim = rand() < 0.35
    for (let s = 0; s < shape.samples; s++) {
      const t = s * 1000
      if (t < createdAtMs) {
        counts[s] = -1
        continue
      }
      if (c === 0) c = 1
      if (t >= next && c < minCopies + (i % 4 === 0 ? 1 : 0) && !(t >= faults[0]!.t && t < faults[0]!.t + 8000)) {
        c++
        next = t + 1500 + rand() * 5000
        const to = Math.floor(rand() * names.length)
        received[to]![s]! += size
        events.push({ t: t - Math.round(rand() * 900), node: names[to]!, type: 'transfer-done', path, peer: nodes[Math.floor(rand() * nodes.length)]!.peerId, detail: `${size} bytes` })
        if (c >= minCopies && ackedAtMs == null) ackedAtMs = t
      }
      if (onVictim && Math.abs(t - faults[0]!.t) < 500 && c > 1) {
        c--
        events.push({ t, node: names[0]!, type: 'copy-lost', path, peer: victim.peerId })
        next = t + 6000 + rand() * 10_000
      }
      if (i === lostForGood && t >= faults[0]!.t) {
        if (Math.abs(t - faults[0]!.t) < 500) c = 1
        next = Number.POSITIVE_INFINITY
      }
      counts[s] = c
    }
    copiesAt.push(counts)
    files.push({ sha256: sha, path, size, kind, origin, minCopies, createdAtMs, ackedAtMs, finalCopies: c })
    events.push({ t: createdAtMs, node: origin, type: 'file-written', path })
  }

  const series: SimReport['series'] = { copies: [], bytesMoved: [], disk: [] }
  const cum = names.map(() => 0)
  for (let s = 0; s < shape.samples; s++) {
    const t = s * 1000
    const c: Record<string, number> = {}
    files.forEach((f, i) => {
      const v = copiesAt[i]![s]!
      if (v >= 0) c[i % 2 === 0 ? f.sha256 : f.sha256.slice(0, 12)] = v
    })
    series.copies.push({ t, files: c })
    const b: Record<string, number> = {}
    const d: Record<string, number> = {}
    names.forEach((name, k) => {
      cum[k]! += received[k]![s]!
      b[name] = cum[k]!
      const fill = k === 5 % names.length && t >= faults[6]!.t ? 0.97 : 0
      d[name] = Math.max(fill, Math.min(1, 0.12 + (k % 7) * 0.05 + cum[k]! / 4e10))
    })
    series.bytesMoved.push({ t, nodes: b })
    series.disk.push({ t, nodes: d })
  }

  const background = ['gossip-recv', 'peer-up', 'peer-down', 'verify-ok', 'scan', 'evict']
  for (let i = 0; i < shape.events; i++) {
    const type = pick(background)
    events.push({ t: Math.round(rand() * durationMs), node: pick(names), type, peer: type.startsWith('peer') ? pick(nodes).peerId : undefined })
  }
  events.sort((a, b) => a.t - b.t)

  const logNormal = (median: number, sigma: number) => median * Math.exp(sigma * Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand()))
  const gossipMs = Array.from({ length: 400 }, () => Math.round(logNormal(35, 0.6) * 10) / 10)
  const transferMs = Array.from({ length: Math.max(1, events.filter((e) => e.type === 'transfer-done').length) }, () => Math.round(logNormal(900, 1.1)))

  const below = files.filter((f) => f.finalCopies < f.minCopies)
  const bytesMoved = cum.reduce((a, b) => a + b, 0)
  return {
    version: 1,
    scenario: { name: 'kill-partition-corrupt', description: 'Kill a worker mid-replication, partition the head away, corrupt a replica, fill a disk; everything must converge.', file: 'sim/scenarios/kill-partition-corrupt.yaml' },
    seed: shape.seed ?? 42,
    mode: 'inprocess',
    startedAt: '2025-05-01T12:00:00.000Z',
    durationMs,
    settledAtMs,
    nodes,
    invariants: {
      noDataLost: { ok: below.length === 0, detail: { filesChecked: files.length, lost: below.map((f) => f.path) } },
      nothingCorruptVisible: { ok: true, detail: { corruptInjected: 1, quarantined: 1, served: 0 } },
      convergence: {
        ok: below.length === 0,
        detail: below.length === 0 ? 'all files at or above minCopies within 30 s of settling' : { belowMin: below.map((f) => ({ path: f.path, sha256: f.sha256, min: f.minCopies, final: f.finalCopies })), deadlineMs: 30_000, log: Array.from({ length: 30 }, (_, i) => `check ${i}: ${below.length} below min`) },
      },
      noStorm: { ok: true, detail: { stormFactor: 1.31, limit: 3 } },
    },
    figures: { bytesMoved, bytesNeeded: Math.round(bytesMoved / 1.31), stormFactor: 1.31, gossipP50Ms: percentile([...gossipMs].sort((a, b) => a - b), 50), gossipP99Ms: percentile([...gossipMs].sort((a, b) => a - b), 99), failureDetectionMs: 4200, repairMs: 17_800, note: 'synthetic' },
    files,
    series,
    latency: { gossipMs, transferMs },
    faults,
    events,
  }
}

function emptyReport(): SimReport {
  return {
    version: 1,
    scenario: { name: 'empty' },
    seed: 0,
    mode: 'inprocess',
    startedAt: '2025-05-01T12:00:00.000Z',
    durationMs: 0,
    nodes: [],
    invariants: {},
    figures: {},
    files: [],
    series: { copies: [], bytesMoved: [], disk: [] },
    latency: { gossipMs: [], transferMs: [] },
    faults: [],
    events: [],
  }
}

function count(hay: string, needle: string | RegExp): number {
  return hay.split(needle).length - 1
}

function expectSelfContained(html: string): void {
  expect(html.startsWith('<!doctype html>')).toBe(true)
  expect(html).toContain('<html lang="en">')
  expect(html.trimEnd().endsWith('</html>')).toBe(true)
  expect(html).not.toMatch(/https?:/i)
  expect(html).not.toMatch(/\/\/[a-z0-9.-]+\.[a-z]{2,}\//i)
  expect(html).not.toMatch(/<script/i)
  expect(html).not.toMatch(/<link/i)
  expect(html).not.toMatch(/<img/i)
  expect(html).not.toMatch(/\ssrc\s*=/i)
  expect(html).not.toMatch(/@import/i)
  // the only url() references are to clip paths inside the page
  for (const m of html.matchAll(/url\(([^)]*)\)/g)) expect(m[1]!.startsWith('#')).toBe(true)
  // no values leaked from bad arithmetic
  expect(html).not.toContain('NaN')
  expect(html).not.toContain('Infinity')
  expect(html).not.toContain('undefined')
  // tags balance
  for (const tag of ['svg', 'g', 'table', 'section', 'details', 'figure', 'tr', 'title']) expect(count(html, new RegExp(`<${tag}[\\s>]`, 'g')), tag).toBe(count(html, `</${tag}>`))
}

describe('report html', () => {
  it('renders a failing run: verdict, invariants, figures, charts, fault marks', async () => {
    const report = makeReport({ nodes: 12, files: 120, samples: 300, events: 600, failing: true })
    const html = renderReportHtml(report)
    expectSelfContained(html)

    expect(reportVerdict(report)).toBe('FAIL')
    expect(html).toContain('data-verdict="FAIL"')
    expect(html).not.toContain('data-verdict="PASS"')
    for (const [name, inv] of Object.entries(report.invariants)) {
      const row = html.match(new RegExp(`<tr data-invariant="${name}" data-ok="(true|false)"[^>]*>(.*?)</tr>`, 's'))
      expect(row, name).not.toBeNull()
      expect(row![1]).toBe(String(inv.ok))
      expect(row![2]).toContain(inv.ok ? '>ok<' : '>FAIL<')
    }
    expect(report.invariants.convergence!.ok).toBe(false)
    expect(report.invariants.noStorm!.ok).toBe(true)
    // a long detail is truncated with the rest behind <details>
    expect(html).toMatch(/data-invariant="convergence".*?<details><summary>show all/s)

    for (const k of Object.keys(report.figures)) expect(html).toContain(`<td class="name">${k}</td>`)

    // one svg per chart: copies, below-min count, bytes, byte totals, disk, latency, timeline
    for (const label of ['copies per file over time', 'files below minCopies over time', 'cumulative bytes received per node', 'total bytes received per node', 'disk used per node over time', 'latency CDF', 'events by node over time']) {
      expect(html).toContain(`<svg viewBox=`)
      expect(count(html, `aria-label="${label}"`), label).toBe(1)
    }
    expect(count(html, '<svg ')).toBe(7)
    // every time chart carries every fault as a dashed line, labels where they fit
    expect(count(html, 'class="fault"')).toBe(report.faults.length * 5)
    expect(html).toContain('>kill gpu-02<title>')
    expect(count(html, 'class="settled"')).toBe(5)
    // the lost file is red in the copies chart and highlighted in the files table
    expect(html).toContain('stroke="#d1242f" stroke-width="2"')
    expect(html).toMatch(/<tr class="bad"><td class="path">runs\/exp-1\//)
    // minCopies reference line
    expect(html).toContain('minCopies 3')
  })

  it('says PASS when every invariant held, NO CHECKS when there are none', () => {
    const report = makeReport({ nodes: 5, files: 10, samples: 60, events: 50, failing: false })
    expect(reportVerdict(report)).toBe('PASS')
    const html = renderReportHtml(report)
    expect(html).toContain('data-verdict="PASS"')
    expect(html).not.toContain('data-ok="false"')
    expect(html).not.toContain('<tr class="bad">')
    expect(reportVerdict(emptyReport())).toBe('NO CHECKS')
    expect(renderReportHtml(emptyReport())).toContain('data-verdict="NO CHECKS"')
  })

  it('escapes names, paths and details from the simulation', () => {
    const report = makeReport({ nodes: 8, files: 20, samples: 60, events: 100, failing: true })
    report.invariants['<b>odd</b> "name"'] = { ok: false, detail: { why: '</pre><script>x()</script>' } }
    const html = renderReportHtml(report)
    expectSelfContained(html)
    expect(html).not.toContain(NASTY_PATH)
    expect(html).toContain('games/&lt;script&gt;alert(1)&lt;/script&gt;&amp;.db')
    expect(html).not.toContain(NASTY_NODE)
    expect(html).toContain('n&quot;q&#39;&lt;x&gt;&amp;')
    expect(html).toContain('&lt;b&gt;odd&lt;/b&gt; &quot;name&quot;')
    expect(html).not.toContain('<b>odd</b>')
    expect(html).toContain('&lt;/pre&gt;&lt;script&gt;x()&lt;/script&gt;')
  })

  it('renders empty, partial and malformed data without NaN', () => {
    const empty = renderReportHtml(emptyReport())
    expectSelfContained(empty)
    expect(count(empty, '<svg ')).toBeGreaterThanOrEqual(5)
    expect(empty).toContain('no latency samples')
    expect(empty).toContain('no copies samples')

    // one node, one sample, one latency sample, a zero-length run
    const one = emptyReport()
    one.nodes = [{ name: 'solo', peerId: 'p', role: 'worker', provider: 'x', ephemeral: false }]
    one.series = { copies: [{ t: 0, files: { abc: 1 } }], bytesMoved: [{ t: 0, nodes: { solo: 0 } }], disk: [{ t: 0, nodes: { solo: 0 } }] }
    one.latency = { gossipMs: [0], transferMs: [5] }
    one.invariants = { x: { ok: true, detail: undefined }, y: { ok: true, detail: 10n } }
    expectSelfContained(renderReportHtml(one))

    // garbage numbers from a broken harness stay out of the page
    const bad = makeReport({ nodes: 4, files: 6, samples: 30, events: 20 })
    bad.latency.gossipMs.push(Number.NaN, Number.POSITIVE_INFINITY)
    bad.series.copies[3]!.files.bogus = Number.NaN
    bad.series.disk[2]!.nodes['head-0'] = Number.NaN
    bad.events.push({ t: Number.NaN, node: 'head-0', type: 'weird' })
    bad.faults.push({ t: Number.NaN, type: 'weird' })
    bad.figures.broken = Number.NaN
    bad.figures.nothing = null
    bad.settledAtMs = Number.NaN
    const cyclic: Record<string, unknown> = { a: 1 }
    cyclic.self = cyclic
    bad.invariants.cyclic = { ok: false, detail: cyclic }
    const html = renderReportHtml(bad)
    expectSelfContained(html)
    expect(html).toContain('[circular]')

    // all latency equal, log scale impossible
    const flat = emptyReport()
    flat.latency = { gossipMs: [7, 7, 7], transferMs: [] }
    expectSelfContained(renderReportHtml(flat))
  })

  it('is deterministic and does not modify its input', () => {
    const report = makeReport({ nodes: 10, files: 60, samples: 120, events: 3000, failing: true })
    report.events.reverse()
    const before = JSON.stringify(report)
    const a = renderReportHtml(report)
    expect(JSON.stringify(report)).toBe(before)
    expect(renderReportHtml(structuredClone(report))).toBe(a)
  })

  it('caps lines and rows and says so', () => {
    const report = makeReport({ nodes: 20, files: 200, samples: 120, events: 7000, failing: true })
    const html = renderReportHtml(report)
    expect(html).toContain(`Showing ${MAX_FILE_LINES} of 200 files`)
    expect(html).toMatch(new RegExp(`first ${MAX_EVENT_ROWS.toLocaleString('en').replace(',', '\u2009')} by time shown, [\\d\u2009]+ omitted`))
    // events table rows: header + capped body
    const events = html.slice(html.indexOf('<section id="events">'))
    expect(count(events, '<tr>')).toBe(MAX_EVENT_ROWS + 1)
    // aggregated timeline: no per-event dots
    const timeline = html.slice(html.indexOf('<section id="timeline">'), html.indexOf('<section id="files">'))
    expect(timeline).toContain('buckets per node')
    expect(count(timeline, '<circle')).toBe(0)
  })

  it('renders a big run (50 nodes, 500 files, 600 samples, 20 000 events) fast and small', () => {
    const report = makeReport({ nodes: 50, files: 500, samples: 600, events: 20_000, failing: true })
    expect(report.events.length).toBeGreaterThan(20_000)
    renderReportHtml(report) // warm up the JIT
    const t0 = performance.now()
    const html = renderReportHtml(report)
    const ms = performance.now() - t0
    expect(ms).toBeLessThan(2000)
    expect(html.length).toBeLessThan(15 * 1024 * 1024)
    expectSelfContained(html)
  })

  it('writes a sample for people to look at when MESHSYNC_REPORT_SAMPLE_DIR is set', async () => {
    const report = makeReport({ nodes: 12, files: 120, samples: 300, events: 2500, failing: true })
    const html = renderReportHtml(report)
    expectSelfContained(html)
    const dir = process.env.MESHSYNC_REPORT_SAMPLE_DIR
    if (dir == null || dir === '') return
    await mkdir(dir, { recursive: true })
    await writeFile(join(dir, 'report.json'), `${JSON.stringify(report, null, 2)}\n`)
    await writeFile(join(dir, 'report.html'), html)
  })
})
