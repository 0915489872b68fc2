import type { Command } from 'commander'
import type { QuarantineRecord } from '../quarantine/quarantine.js'
import type { TransferJson } from '../transfer/manager.js'
import { MeshsyncError } from '../util/errors.js'
import { type ApiHelpers, apiClient, withApiOptions } from './api-options.js'
import { resolveFetchTarget } from './fetch-target.js'
import { PeerNames } from './peer-names.js'
import { formatBytes, progressLine, short, table } from './format.js'

type TransferState = TransferJson & { state: string; path: string }

/** fetch, transfers, quarantine: commands about moving files, through the node's API. */
export function registerTransferCommands(program: Command, h: ApiHelpers): void {
  withApiOptions(program.command('fetch').description('fetch a file by its SHA-256 (or a unique prefix of 8+ hex digits, any case) or --path into this node’s data dir (exit 0 once it has landed)'))
    .argument('[sha256]', 'the SHA-256, or a unique prefix of it (8 hex digits or more, as `files` prints)')
    .option('--path <path>', 'fetch the file with this path (as `files` lists it) instead')
    .option('--from <peerId>', 'fetch only from this peer')
    .option('--timeout <seconds>', 'give up after this long', '3600')
    .action(async (arg: string | undefined, o: Record<string, unknown>) => {
      const api = apiClient(h, o)
      const sha256 = await resolveFetchTarget(api, arg, typeof o.path === 'string' ? o.path : undefined)
      const deadline = Date.now() + Number(o.timeout) * 1000
      await api.post('/fetch', { sha256, from: o.from })
      const tty = process.stderr.isTTY && o.json !== true
      let last: TransferState | undefined
      for (;;) {
        const t = await api.get<TransferState>(`/transfer?sha256=${sha256}`)
        last = t
        if (t.state === 'landed') break
        if (t.state === 'failed') {
          if (tty) process.stderr.write('\n')
          throw new MeshsyncError('ERR_TRANSFER_FAILED', `${t.path}: ${t.lastError ?? 'failed'} (after ${t.attempts} attempts)`)
        }
        if (Date.now() > deadline) throw new MeshsyncError('ERR_TIMEOUT', `${t.path}: not landed after ${o.timeout} s (state ${t.state}${t.lastError != null ? `, last error: ${t.lastError}` : ''})`)
        if (tty) {
          const p = t.progress
          const line =
            p != null ? progressLine({ done: p.bytes, total: p.total, rate: p.rate, sources: p.sources.length, label: p.via === 'bittorrent' ? `${t.path} (BitTorrent)` : t.path }) : `${t.state}${t.lastError != null ? `: ${t.lastError}` : ''} ${t.path}`
          process.stderr.write(`\r${line.padEnd(process.stderr.columns ? process.stderr.columns - 1 : 100).slice(0, (process.stderr.columns ?? 101) - 1)}`)
        }
        await new Promise((r) => setTimeout(r, 250))
      }
      if (tty) process.stderr.write('\n')
      const out = { sha256, state: 'landed', path: last.path, size: last.size }
      process.stdout.write(o.json === true ? `${JSON.stringify(out)}\n` : `landed ${last.path} (${formatBytes(last.size)}, sha256 verified)\n`)
    })

  withApiOptions(program.command('promote').description('mark a model promoted: critical priority, pulled by every training node (model_distributed when all hold it)'))
    .argument('<file>', 'path under the node’s data dir, or SHA-256')
    .action(async (file: string, o: Record<string, unknown>) => {
      const body = /^[0-9a-f]{64}$/.test(file) ? { sha256: file } : { path: file }
      const r = await apiClient(h, o).post<{ sha256: string; path: string; size: number }>('/promote', body)
      process.stdout.write(o.json === true ? `${JSON.stringify(r)}\n` : `promoted ${r.path} (${formatBytes(r.size)}, ${short(r.sha256, 12)})\n`)
    })

  withApiOptions(program.command('transfers').description('downloads queued, running, waiting to retry or failed')).action(async (o: Record<string, unknown>) => {
    const list = await apiClient(h, o).get<TransferJson[]>('/transfers')
    if (o.json === true) {
      process.stdout.write(`${JSON.stringify(list, null, 2)}\n`)
      return
    }
    process.stdout.write(
      `${table(
        ['PATH', 'SIZE', 'STATE', 'PRIORITY', 'REASON', 'PROGRESS', 'ATTEMPTS', 'LAST ERROR'],
        list.map((t) => [
          t.path,
          formatBytes(t.size),
          t.state,
          t.priority,
          t.reason,
          t.progress != null ? `${((t.progress.bytes / Math.max(1, t.progress.total)) * 100).toFixed(0)}% from ${t.progress.sources.length}${t.progress.via === 'bittorrent' ? ' (bt)' : ''}` : '-',
          t.attempts,
          t.lastError ?? '',
        ]),
      )}\n`,
    )
  })

  const q = program.command('quarantine').description('files that failed their checks: list, release (put back), purge (delete)')
  withApiOptions(q.command('list').description('quarantined files with the reason'))
    .option('--all', 'include released and purged ones')
    .action(async (o: Record<string, unknown>) => {
      const api = apiClient(h, o)
      const list = await api.get<QuarantineRecord[]>(`/quarantine${o.all === true ? '?all=true' : ''}`)
      if (o.json === true) {
        process.stdout.write(`${JSON.stringify(list, null, 2)}\n`)
        return
      }
      const names = await new PeerNames(api).load()
      process.stdout.write(
        `${table(
          ['ID', 'TIME', 'PATH', 'SIZE', 'FOUND BY', 'SOURCE', 'STATE', 'REASON'],
          list.map((r) => [r.id, new Date(r.timeMs).toISOString().slice(0, 19), r.path, formatBytes(r.size), r.foundBy, names.label(r.sourcePeer), r.state, r.reason]),
        )}\n`,
      )
    })
  withApiOptions(q.command('release').description('put a quarantined file back under its original name (you decided it is good)'))
    .argument('<id>')
    .action(async (id: string, o: Record<string, unknown>) => {
      const r = await apiClient(h, o).post<QuarantineRecord & { announced?: boolean; invalid?: string }>('/quarantine/release', { id })
      const withheld = r.announced === false ? `; it still fails validation (${r.invalid}): every receiver would reject it, so it stays on this node only and is not announced until it changes` : ''
      process.stdout.write(o.json === true ? `${JSON.stringify(r)}\n` : `released ${r.id} to ${r.path}${withheld}\n`)
    })
  withApiOptions(q.command('purge').description('delete quarantined files: one id, --all, or --older-than SECONDS'))
    .argument('[id]')
    .option('--all', 'every held file')
    .option('--older-than <seconds>', 'held files older than this')
    .action(async (id: string | undefined, o: Record<string, unknown>) => {
      if (id == null && o.all !== true && o.olderThan == null) throw new MeshsyncError('ERR_INVALID_REQUEST', 'name an id, or pass --all or --older-than SECONDS')
      const r = await apiClient(h, o).post<QuarantineRecord[]>('/quarantine/purge', {
        id,
        all: o.all === true,
        olderThanSeconds: o.olderThan != null ? Number(o.olderThan) : undefined,
      })
      process.stdout.write(o.json === true ? `${JSON.stringify(r)}\n` : `purged ${r.length} file(s)\n`)
    })
}
