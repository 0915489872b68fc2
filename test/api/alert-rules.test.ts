import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parse } from 'yaml'
import type { MeshsyncNode } from '../../src/node.js'
import { startNode, stopAll } from '../helpers/cluster.js'

const BOOTSTRAP = join(import.meta.dirname, '..', '..', 'bootstrap')
const RULES = join(BOOTSTRAP, 'prometheus', 'meshsync-alerts.yml')
const GRAFANA = join(BOOTSTRAP, 'grafana', 'meshsync-dashboard.json')

interface Rule {
  alert: string
  expr: string
  for?: string
  labels: { severity: string }
  annotations: { summary: string; description: string }
}

/** Metric names an expression uses (histogram series named by their base metric). */
function metricsIn(expr: string): string[] {
  return [...new Set([...expr.matchAll(/\bmeshsync_[a-z0-9_]+/g)].map((m) => m[0].replace(/_(bucket|sum|count)$/, '')))]
}

function promtool(): string | undefined {
  try {
    execFileSync('promtool', ['--version'], { stdio: 'ignore' })
    return 'promtool'
  } catch {
    return undefined
  }
}

/** The alert rules and the Grafana dashboard in bootstrap/ use only metrics a real node exports. */
describe('alert rules and Grafana dashboard', () => {
  let node: MeshsyncNode
  let exported = new Set<string>()
  beforeAll(async () => {
    node = await startNode({ name: 'metrics' })
    const text = await (await fetch(`http://${node.apiAddress}/metrics`)).text()
    exported = new Set([...text.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]!))
  })
  afterAll(() => stopAll([node]))

  const rules = (parse(readFileSync(RULES, 'utf8')) as { groups: { name: string; rules: Rule[] }[] }).groups.flatMap((g) => g.rules)

  it('every rule is complete: a name, an expression, a severity, a summary and what to do', () => {
    expect(rules.length).toBeGreaterThanOrEqual(8)
    for (const r of rules) {
      expect(r.alert, JSON.stringify(r)).toMatch(/^Meshsync[A-Za-z]+$/)
      expect(['critical', 'warning', 'info']).toContain(r.labels.severity)
      expect(r.annotations.summary.length).toBeGreaterThan(10)
      expect(r.annotations.description.length).toBeGreaterThan(20)
      if (r.for != null) expect(r.for).toMatch(/^\d+[smh]$/)
      expect(metricsIn(r.expr).length, r.alert).toBeGreaterThan(0)
    }
    expect(new Set(rules.map((r) => r.alert)).size).toBe(rules.length)
  })

  it('every metric the rules use is in /metrics of a real node', () => {
    expect(exported.size).toBeGreaterThan(10)
    for (const r of rules) for (const m of metricsIn(r.expr)) expect(exported.has(m), `${r.alert} uses ${m}, which /metrics does not export`).toBe(true)
  })

  it('every metric the Grafana dashboard queries is in /metrics', () => {
    const d = JSON.parse(readFileSync(GRAFANA, 'utf8')) as { panels: { title: string; targets: { expr: string }[] }[] }
    expect(d.panels.length).toBeGreaterThan(5)
    for (const p of d.panels) for (const t of p.targets) for (const m of metricsIn(t.expr)) expect(exported.has(m), `panel '${p.title}' uses ${m}`).toBe(true)
  })

  it.skipIf(promtool() == null)('promtool check rules accepts the file', () => {
    expect(execFileSync('promtool', ['check', 'rules', RULES], { encoding: 'utf8' })).toMatch(/SUCCESS/)
  })
})
