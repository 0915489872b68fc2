import { Counter, Gauge, Histogram, Registry } from 'prom-client'

/**
 * The node's Prometheus metrics, in a registry of its own (several nodes can
 * run in one process in the simulation). Gauges that mirror state are filled
 * by `collect` callbacks the composition root sets.
 */
export class Metrics {
  readonly registry = new Registry()
  readonly gossipMessages = new Counter({
    name: 'meshsync_gossip_messages_total',
    help: 'Gossip messages received, by topic and result (accepted, invalid, stale)',
    labelNames: ['topic', 'result'] as const,
    registers: [this.registry],
  })
  readonly gossipPublished = new Counter({
    name: 'meshsync_gossip_published_total',
    help: 'Gossip messages published, by topic',
    labelNames: ['topic'] as const,
    registers: [this.registry],
  })
  readonly antiEntropy = new Counter({
    name: 'meshsync_anti_entropy_total',
    help: 'Full manifest pulls from peers, by result',
    labelNames: ['result'] as const,
    registers: [this.registry],
  })
  readonly transferBytes = new Counter({
    name: 'meshsync_transfer_bytes_total',
    help: 'File bytes moved, by direction (in, out) and transport (libp2p, bittorrent)',
    labelNames: ['direction', 'transport'] as const,
    registers: [this.registry],
  })
  readonly transfers = new Counter({
    name: 'meshsync_transfers_total',
    help: 'Finished downloads, by result (completed, failed, quarantined)',
    labelNames: ['result'] as const,
    registers: [this.registry],
  })
  readonly chunksRejected = new Counter({
    name: 'meshsync_chunks_rejected_total',
    help: 'Chunks whose hash did not match, by source peer',
    labelNames: ['peer'] as const,
    registers: [this.registry],
  })
  readonly connectionsFailed = new Counter({
    name: 'meshsync_connections_failed_total',
    help: 'Connections closed because their data path failed (the private-network cipher threw); the node stays up',
    registers: [this.registry],
  })
  readonly transferSeconds = new Histogram({
    name: 'meshsync_transfer_seconds',
    help: 'Time to fetch and land a file',
    buckets: [0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 900, 3600],
    registers: [this.registry],
  })

  gauge(name: string, help: string, labelNames: string[], collect: (g: Gauge) => void): Gauge {
    return new Gauge({
      name,
      help,
      labelNames,
      registers: [this.registry],
      collect() {
        this.reset()
        collect(this)
      },
    })
  }

  async text(): Promise<string> {
    return this.registry.metrics()
  }
}
