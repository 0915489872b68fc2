import { Gauge } from 'prom-client'
import type { MeshsyncNode } from '../node.js'
import { clusterHealth, type ProblemKind } from './cluster-health.js'

const KINDS: ProblemKind[] = ['under_min', 'sync_lag', 'disk_urgent', 'node_down', 'loop_stalled', 'not_writable']

/** Gauges the alert rules in bootstrap/prometheus need: peers by state, each loop's last good tick, /health/cluster's problems. */
export function registerHealthMetrics(node: MeshsyncNode): void {
  const registry = node.metrics.registry
  if (registry.getSingleMetric('meshsync_peers') != null) return
  new Gauge({
    name: 'meshsync_peers',
    help: 'Other nodes this node knows, by state (up, suspect, down)',
    labelNames: ['state'],
    registers: [registry],
    collect() {
      this.reset()
      const n = { up: 0, suspect: 0, down: 0 }
      for (const p of node.view.peers()) if (p.peerId !== node.peerId) n[p.state]++
      for (const [state, v] of Object.entries(n)) this.set({ state }, v)
    },
  })
  new Gauge({
    name: 'meshsync_loop_last_success_timestamp_seconds',
    help: "Unix time of each of this node's loops' last successful tick (0 before the first)",
    labelNames: ['loop'],
    registers: [registry],
    collect() {
      this.reset()
      for (const l of node.loops) {
        const s = l.status
        if (s.running) this.set({ loop: s.name }, (s.lastOkMs ?? 0) / 1000)
      }
    },
  })
  new Gauge({
    name: 'meshsync_health_problems',
    help: 'Problems /health/cluster reports, by kind (0 for each when the cluster is safe)',
    labelNames: ['kind'],
    registers: [registry],
    async collect() {
      this.reset()
      const h = await clusterHealth(node)
      for (const k of KINDS) this.set({ kind: k }, h.problems.filter((p) => p.kind === k).length + (h.omitted[k] ?? 0))
    },
  })
}
