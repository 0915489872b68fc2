import { InvalidMessageError } from '../../src/util/errors.js'
import { MAX_ADDRS, MAX_DOWNLOADING, MAX_HEALTH_BYTES, MAX_SINKS, MAX_STRING, MAX_TAGS, SINK_NAME } from './constants.js'
import { DiskState, Health as PbHealth } from './health.pb.js'

export type DiskLevel = 'ok' | 'push' | 'urgent' | 'full'

/** What a node says about itself every few seconds. */
export interface HealthReport {
  seq: number
  timeMs: number
  name: string
  role: string
  provider: string
  tags: string[]
  ephemeral: boolean
  disk: { total: number; free: number; usedFraction: number; level: DiskLevel }
  /** 1-minute load average per core. */
  load: number
  /** False while the node applies backpressure: send it nothing new but critical data. */
  accepting: boolean
  version: string
  uptimeMs: number
  addrs: string[]
  btPort: number
  transports: string[]
  manifest: { seq: number; digest: string; count: number }
  evacuating: boolean
  evacuateDeadlineMs: number
  /** SHA-256 (hex) of files the node is fetching now; it serves their verified chunks. */
  downloading: string[]
  transfersActive: number
  /** Blob bulk TLS lane port (protocols/blob/SPEC.md), 0 or absent = none. */
  lanePort?: number
  /** Backup sinks the node can reach now (absent from older nodes: none). */
  sinks?: string[]
}

const LEVEL_TO_PB: Record<DiskLevel, DiskState> = { ok: DiskState.DISK_OK, push: DiskState.DISK_PUSH, urgent: DiskState.DISK_URGENT, full: DiskState.DISK_FULL }
const PB_TO_LEVEL: Record<string, DiskLevel> = { DISK_OK: 'ok', DISK_PUSH: 'push', DISK_URGENT: 'urgent', DISK_FULL: 'full' }

export function encodeHealth(h: HealthReport): Uint8Array {
  return PbHealth.encode({
    seq: h.seq,
    timeMs: h.timeMs,
    name: h.name,
    role: h.role,
    provider: h.provider,
    tags: h.tags,
    ephemeral: h.ephemeral,
    diskTotal: h.disk.total,
    diskFree: h.disk.free,
    diskUsedPpm: Math.round(Math.min(1, Math.max(0, h.disk.usedFraction)) * 1e6),
    diskState: LEVEL_TO_PB[h.disk.level],
    loadMilli: Math.min(0xffffffff, Math.round(Math.max(0, h.load) * 1000)),
    accepting: h.accepting,
    version: h.version,
    uptimeMs: h.uptimeMs,
    addrs: h.addrs,
    btPort: h.btPort,
    transports: h.transports,
    manifestSeq: h.manifest.seq,
    manifestDigest: new Uint8Array(Buffer.from(h.manifest.digest, 'hex')),
    manifestCount: h.manifest.count,
    evacuating: h.evacuating,
    evacuateDeadlineMs: h.evacuateDeadlineMs,
    downloading: h.downloading.map((s) => new Uint8Array(Buffer.from(s, 'hex'))),
    transfersActive: h.transfersActive,
    lanePort: h.lanePort ?? 0,
    sinks: (h.sinks ?? []).slice(0, MAX_SINKS),
  })
}

function str(value: string, field: string, max = MAX_STRING): string {
  if (value.length > max) throw new InvalidMessageError(`health ${field} longer than ${max}`)
  // biome-ignore lint/suspicious/noControlCharactersInRegex: refused on purpose
  if (/[\u0000-\u001f]/.test(value)) throw new InvalidMessageError(`health ${field} has control characters`)
  return value
}

/** Decodes and validates a health report from a peer. Throws InvalidMessageError. */
export function decodeHealth(data: Uint8Array): HealthReport {
  if (data.byteLength > MAX_HEALTH_BYTES) throw new InvalidMessageError(`health message of ${data.byteLength} bytes is over ${MAX_HEALTH_BYTES}`)
  let h: PbHealth
  try {
    h = PbHealth.decode(data, { limits: { tags: MAX_TAGS, addrs: MAX_ADDRS, transports: 8, downloading: MAX_DOWNLOADING, sinks: MAX_SINKS } })
  } catch (err) {
    throw new InvalidMessageError(`health message does not decode: ${(err as Error).message}`)
  }
  if (!Number.isSafeInteger(h.seq) || h.seq < 1) throw new InvalidMessageError('health seq must be >= 1')
  if (h.manifestDigest.byteLength !== 32) throw new InvalidMessageError('health manifest_digest must be 32 bytes')
  if (h.diskUsedPpm > 1e6) throw new InvalidMessageError('health disk_used_ppm over 1e6')
  if (h.btPort > 65535) throw new InvalidMessageError('health bt_port out of range')
  if (h.lanePort > 65535) throw new InvalidMessageError('health lane_port out of range')
  for (const d of h.downloading) if (d.byteLength !== 32) throw new InvalidMessageError('health downloading entries must be 32 bytes')
  const level = PB_TO_LEVEL[String(h.diskState)]
  if (level == null) throw new InvalidMessageError('health disk_state unknown')
  return {
    seq: h.seq,
    timeMs: h.timeMs,
    name: str(h.name, 'name', 64),
    role: str(h.role, 'role', 32),
    provider: str(h.provider, 'provider', 64),
    tags: h.tags.map((t) => str(t, 'tag', 64)),
    ephemeral: h.ephemeral,
    disk: { total: h.diskTotal, free: h.diskFree, usedFraction: h.diskUsedPpm / 1e6, level },
    load: h.loadMilli / 1000,
    accepting: h.accepting,
    version: str(h.version, 'version', 64),
    uptimeMs: h.uptimeMs,
    addrs: h.addrs.map((a) => {
      if (!a.startsWith('/')) throw new InvalidMessageError('health addrs must be multiaddrs')
      return str(a, 'addr')
    }),
    btPort: h.btPort,
    transports: h.transports.map((t) => str(t, 'transport', 32)),
    manifest: { seq: h.manifestSeq, digest: Buffer.from(h.manifestDigest).toString('hex'), count: h.manifestCount },
    evacuating: h.evacuating,
    evacuateDeadlineMs: h.evacuateDeadlineMs,
    downloading: h.downloading.map((d) => Buffer.from(d).toString('hex')),
    transfersActive: h.transfersActive,
    lanePort: h.lanePort,
    sinks: h.sinks.map((n) => {
      if (!SINK_NAME.test(n)) throw new InvalidMessageError('health sinks must be sink names')
      return n
    }),
  }
}
