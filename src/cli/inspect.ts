import type { Command } from 'commander'
import type { FileJson, PeerJson } from '../node/read-models.js'
import { type ApiHelpers, apiClient, withApiOptions } from './api-options.js'
import { followEvents } from './follow-events.js'
import { formatBytes, formatDuration, table } from './format.js'
import { idTail, PeerNames, peerLabel } from './peer-names.js'

function out(o: Record<string, unknown>, json: unknown, text: () => string): void {
  process.stdout.write(o.json === true ? `${JSON.stringify(json, null, 2)}\n` : `${text()}\n`)
}

/** Commands that ask a running node through its local HTTP API. */
export function registerInspectCommands(program: Command, h: ApiHelpers): void {
  const apiCmd = (name: string, description: string): Command =>
    withApiOptions(program.command(name).description(description))

  apiCmd('status', 'node and cluster status: peers, files, disk, replication health').action(async (o: Record<string, unknown>) => {
    // biome-ignore lint/suspicious/noExplicitAny: the status JSON is printed field by field
    const s = await apiClient(h, o).get<Record<string, any>>('/status')
    out(o, s, () => {
      const lines = [
        `${s.name} (${s.role}, ${s.provider}${s.ephemeral ? ', ephemeral' : ''})  ${s.peerId}`,
        `version ${s.build ?? s.version}, up ${formatDuration(s.uptimeMs)}, api ${s.api}`,
        `peers: ${s.peers.up} up, ${s.peers.suspect} suspect, ${s.peers.down} down (${s.peers.connected} connected)`,
        `local files: ${s.manifest.files} (${formatBytes(s.manifest.bytes)}), ${s.manifest.pending} pending; manifest seq ${s.manifest.seq}`,
        `disk: ${(s.disk.usedFraction * 100).toFixed(1)}% used, ${formatBytes(s.disk.free)} free (${s.disk.level})`,
      ]
      if (s.versions?.mixed === true) {
        const counts = Object.entries(s.versions.counts as Record<string, number>).map(([v, n]) => `${v} on ${n}`)
        lines.push(`MIXED VERSIONS: ${counts.join(', ')} (an upgrade is half done)`)
      }
      const r = s.replication
      if (r != null) {
        lines.push(
          `replication: ${r.files} files known, ${r.filesUnderMin} under their minimum, ${formatBytes(r.bytesAtRisk)} at risk, sync lag ${formatDuration(r.syncLagMs)}`,
          `  pulling ${r.pulling}, repairs ${r.repairsStarted} (${r.repairsDeferred} deferred), deleted ${r.deleted} (${formatBytes(r.bytesFreed)}), refused ${r.cleanupRefused}${r.evacuating ? ', EVACUATING' : ''}`,
        )
        // biome-ignore lint/suspicious/noExplicitAny: fields of the status JSON
        for (const f of (r.atRisk ?? []) as any[]) lines.push(`  AT RISK: ${f.path}: its only holder ${peerLabel(f.peer, f.peerName)} is flaky (${f.reason}); kept and probed`)
      }
      if (Array.isArray(s.nodes) && s.nodes.length > 0) {
        lines.push(
          'nodes:',
          ...table(
            ['NAME', 'ROLE', 'STATE', 'DISK', 'FREE', 'FILES', 'VERSION'],
            // biome-ignore lint/suspicious/noExplicitAny: fields of the status JSON
            s.nodes.map((n: any) => [
              `${n.name ?? idTail(n.peerId)}${n.self ? ' *' : ''}`,
              n.role,
              `${n.state}${n.evacuating ? ' evacuating' : n.accepting === false ? ' busy' : ''}`,
              `${(n.disk.usedFraction * 100).toFixed(0)}% ${n.disk.level}`,
              formatBytes(n.disk.free),
              n.files,
              n.version ?? '-',
            ]),
          )
            .split('\n')
            .map((l: string) => `  ${l}`),
        )
      }
      if (s.bittorrentPort != null) lines.push(`bittorrent: port ${s.bittorrentPort}`)
      lines.push('addresses:', ...(s.addresses as string[]).map((a) => `  ${a}`))
      return lines.join('\n')
    })
  })

  apiCmd('peers', 'known peers with their state and health').action(async (o: Record<string, unknown>) => {
    const peers = await apiClient(h, o).get<PeerJson[]>('/peers')
    out(o, peers, () =>
      table(
        ['NAME', 'PEER', 'STATE', 'ROLE', 'PROVIDER', 'DISK', 'FILES', 'LAST SEEN'],
        peers.map((p) => {
          const hl = p.health as { role?: string; provider?: string; disk?: { usedFraction: number; level: string } } | undefined
          return [
            p.name ?? '-',
            idTail(p.peerId),
            p.state,
            hl?.role ?? '-',
            hl?.provider ?? '-',
            hl?.disk != null ? `${(hl.disk.usedFraction * 100).toFixed(0)}% ${hl.disk.level}` : '-',
            p.files,
            p.lastSeenMs != null ? `${formatDuration(Date.now() - p.lastSeenMs)} ago` : 'never',
          ]
        }),
      ),
    )
  })

  apiCmd('files', 'every known file and where it lives')
    .option('--where <glob>', 'only files whose path matches, e.g. "games/**/*.db"')
    .action(async (o: Record<string, unknown>) => {
      const q = typeof o.where === 'string' ? `?where=${encodeURIComponent(o.where)}` : ''
      const files = await apiClient(h, o).get<FileJson[]>(`/files${q}`)
      out(o, files, () =>
        table(
          ['PATH', 'SIZE', 'KIND', 'COPIES', 'SHA256', 'HOLDERS'],
          files.map((f) => [f.path, formatBytes(f.size), f.kind, `${f.verifiedCopies}/${f.minCopies}${f.atRisk != null ? ' at risk' : ''}`, f.sha256.slice(0, 12), f.holderNames.join(',')]),
        ),
      )
    })

  const events = apiCmd('events', 'recent events (with --follow, a live stream)')
  // for events, --json was always JSON Lines: say so where --help lists it
  for (const opt of events.options) if (opt.long === '--json') opt.description = 'deprecated alias of --jsonl (JSON Lines), kept for this release'
  events
    .option('--since <id>', 'events after this id')
    .option('--type <types>', 'comma-separated event types')
    .option('-f, --follow', 'keep printing new events (exits 1 when the node goes away)')
    .option('--retry', 'with --follow: when the node goes away, wait for it and go on after the last event')
    .option('--jsonl', 'print JSON Lines: one event object per line (not one JSON array)')
    .addHelpText('after', '\nOutput: one line per event; with --jsonl one JSON object per line (JSON Lines, not one JSON array).\n--json does the same for this release (deprecated for events: use --jsonl). Peers show as NAME (…last 8 of the ID).')
    .action(async (o: Record<string, unknown>) => {
      const c = apiClient(h, o)
      const params = new URLSearchParams()
      if (typeof o.since === 'string') params.set('since', o.since)
      if (typeof o.type === 'string') params.set('type', o.type)
      const jsonl = o.jsonl === true || o.json === true
      const names = jsonl ? undefined : await new PeerNames(c).load()
      const print = async (e: { id: number; timeMs: number; type: string; peer?: string; path?: string; data?: unknown }): Promise<void> => {
        if (names == null) process.stdout.write(`${JSON.stringify(e)}\n`)
        else {
          const peer = e.peer != null ? ` peer=${await names.labelFresh(e.peer)}` : ''
          process.stdout.write(`${new Date(e.timeMs).toISOString()} #${e.id} ${e.type}${e.path != null ? ` ${e.path}` : ''}${peer}${e.data != null ? ` ${JSON.stringify(e.data)}` : ''}\n`)
        }
      }
      if (o.follow !== true) {
        for (const e of await c.get<Parameters<typeof print>[0][]>(`/events?${params}`)) await print(e)
        return
      }
      await followEvents(c, params, (e) => print(e as Parameters<typeof print>[0]), { retry: o.retry === true, note: (l) => process.stderr.write(`${l}\n`) })
    })
}
