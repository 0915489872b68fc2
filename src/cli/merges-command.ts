import type { Command } from 'commander'
import type { MergedSource, TargetState } from '../merge/provenance.js'
import { type ApiHelpers, apiClient, withApiOptions } from './api-options.js'
import { short, table } from './format.js'

interface MergesJson {
  rules: number
  passes: number
  lastError?: string
  targets: TargetState[]
  sources: MergedSource[]
}

/** `meshsync merges`: the merged targets of a running node and which source versions went into each. */
export function registerMergesCommand(program: Command, h: ApiHelpers): void {
  withApiOptions(program.command('merges').description('merged SQLite targets and their provenance: which sources, at which versions (SHA-256)'))
    .option('--merge <name>', 'only this merges.<name> rule')
    .option('--target <path>', 'only this target')
    .option('--sources', 'list every source version')
    .action(async (o: Record<string, unknown>) => {
      const params = new URLSearchParams()
      if (typeof o.merge === 'string') params.set('merge', o.merge)
      if (typeof o.target === 'string') params.set('target', o.target)
      const m = await apiClient(h, o).get<MergesJson>(`/merges?${params}`)
      if (o.json === true) {
        process.stdout.write(`${JSON.stringify(m, null, 2)}\n`)
        return
      }
      const targets = m.targets.filter((t) => (o.merge == null || t.merge === o.merge) && (o.target == null || t.target === o.target))
      const lines = [
        table(
          ['MERGE', 'MODE', 'TARGET', 'SOURCES', 'ROWS', 'CHECK', 'CONTENT'],
          targets.map((t) => [t.merge, t.mode, t.target, t.sources, t.rowsTotal, t.countOk ? 'ok' : 'MISMATCH', t.contentHash.slice(0, 12)]),
        ),
      ]
      if (o.sources === true) {
        lines.push(
          '',
          table(
            ['TARGET', 'SOURCE', 'SHA256', 'ORIGIN', 'STATE', 'ADDED', 'CONFLICTS'],
            m.sources.map((s) => [s.target, s.sourcePath, s.sha256.slice(0, 12), short(s.origin, 12), s.state, s.rowsAdded, s.conflicts]),
          ),
        )
      }
      if (m.lastError != null) lines.push(`last error: ${m.lastError}`)
      process.stdout.write(`${lines.join('\n')}\n`)
    })
}
