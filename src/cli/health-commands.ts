import type { Command } from 'commander'
import type { ClusterHealth } from '../api/cluster-health.js'
import { type ApiHelpers, apiClient, withApiOptions } from './api-options.js'

/**
 * doctor's line for a safe cluster. Files under their minimum within the
 * grace are not problems yet, but the line must not claim they have their copies.
 */
export function okLine(body: Pick<ClusterHealth, 'node' | 'underMinInGrace'>): string {
  const waiting = body.underMinInGrace?.files ?? 0
  if (waiting === 0) return `ok: ${body.node} sees the cluster safe (every file has its copies, nodes up, loops ticking)`
  return `ok: ${body.node} sees the cluster safe for now (nodes up, loops ticking), but ${waiting} file(s) are still under their minimum copies, for less than alerts.underMinGraceSeconds (${body.underMinInGrace.graceSeconds} s); \`meshsync files\` shows their copies, \`meshsync transfers\` on the receivers why they wait`
}

/** doctor (is the cluster safe?) and dashboard (a login link for the web page). */
export function registerHealthCommands(program: Command, h: ApiHelpers): void {
  withApiOptions(program.command('doctor').description('is the cluster safe? exit 0 if so; otherwise each problem, what it is about and what to do (exit 1)')).action(
    async (o: Record<string, unknown>) => {
      const { body } = await apiClient(h, o).getAny<ClusterHealth>('/health/cluster')
      if (o.json === true) process.stdout.write(`${JSON.stringify(body, null, 2)}\n`)
      else if (body.ok) process.stdout.write(`${okLine(body)}\n`)
      else {
        const lines = body.problems.map((p) => `${p.kind.toUpperCase().padEnd(12)} ${p.message}\n${' '.repeat(13)}-> ${p.action}`)
        for (const [kind, n] of Object.entries(body.omitted)) lines.push(`...and ${n} more ${kind} problem(s) (--json lists the first ones)`)
        process.stdout.write(`NOT SAFE (${body.problems.length} problem(s), seen from ${body.node}):\n${lines.join('\n')}\n`)
      }
      if (!body.ok) process.exitCode = 1
    },
  )

  withApiOptions(program.command('dashboard').description('print a one-time link that logs this browser in to the node’s dashboard')).action(async (o: Record<string, unknown>) => {
    const api = apiClient(h, o)
    const r = await api.post<{ token: string; expiresInSeconds: number }>('/auth/token', {})
    const url = `${api.base}/?token=${encodeURIComponent(r.token)}`
    process.stdout.write(o.json === true ? `${JSON.stringify({ url, expiresInSeconds: r.expiresInSeconds })}\n` : `${url}\n(open it within ${r.expiresInSeconds} s; it works once)\n`)
  })
}
