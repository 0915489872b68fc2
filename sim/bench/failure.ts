import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { runSim } from '../run/runner.js'
import { parseScenario } from '../scenario/load.js'
import { round } from './stats.js'
import { benchArgs } from './args.js'

/**
 * Failure detection and repair, on the simulation harness: node processes
 * with the default liveness timers (health every 2 s, suspect after 6 s,
 * down after 15 s); one node at a time is killed -9. Detection: from the
 * kill until every live node has marked it down. Repair: from the kill until
 * every file it held is back at its minimum copies on live nodes (after
 * replication.downGraceSeconds, default here 10 s; 300 s on a real cluster).
 *
 *   npm run bench -- failure [--nodes 6] [--kills 4] [--grace 10] [--mode processes]
 */
export async function run(argv: string[]): Promise<void> {
  const { str: arg, num } = benchArgs(argv)
  const nodes = num('nodes', 6)
  const kills = num('kills', 4)
  const grace = num('grace', 10)
  const mode = arg('mode', 'processes')
  const gap = 45
  const duration = 20 + kills * gap
  const faults = Array.from({ length: kills }, (_, k) => `  - { type: kill, at: ${20 + k * gap}, node: gen-${k % (nodes - 2)}, restartAfter: ${gap - 5} }`).join('\n')
  const scenario = parseScenario(
    `name: failure
description: one node at a time is killed -9 with the default liveness timers; detection and repair times
nodes: ${nodes}
duration: ${duration}
settle: 60
mode: ${mode}
config:
  gossip.healthIntervalSeconds: 2
  gossip.suspectAfterSeconds: 6
  gossip.downAfterSeconds: 15
  replication.downGraceSeconds: ${grace}
  replication.intervalSeconds: 5
groups:
  - { name: store, count: 2, role: storage }
  - { name: gen, share: 1, role: selfplay }
data:
  - { kind: sqlite, on: gen, every: 4, size: 256KiB, until: 15 }
faults:
${faults}
invariants:
  convergeWithin: 60
`,
    'failure bench',
  )
  const dir = await mkdtemp(join(tmpdir(), 'bench-failure-'))
  try {
    process.stderr.write(`failure bench: ${nodes} ${mode}, ${kills} kills, ${duration} s\n`)
    const out = await runSim({ scenario, reportDir: dir })
    const f = out.report.figures
    const result = {
      bench: 'failure',
      nodes,
      mode,
      kills,
      downAfterSeconds: 15,
      downGraceSeconds: grace,
      detectionP50Ms: f.failureDetectionMs,
      detectionMaxMs: f.failureDetectionMaxMs,
      repairP50Ms: f.repairMs,
      repairMaxMs: f.repairMaxMs,
      repairsMeasured: f.repairsMeasured,
      invariantsOk: out.ok,
    }
    const s = (v: unknown) => (typeof v === 'number' ? round(v / 1000, 1) : '-')
    process.stdout.write(
      `\n| failure (${nodes} node ${mode}, kill -9, default liveness: down after 15 s) | p50 s | max s |\n|---|---|---|\n` +
        `| detection: kill -> every live node marks it down | ${s(f.failureDetectionMs)} | ${s(f.failureDetectionMaxMs)} |\n` +
        `| repair: kill -> its files back at min copies (grace ${grace} s) | ${s(f.repairMs)} | ${s(f.repairMaxMs)} |\n\n`,
    )
    process.stdout.write(`${JSON.stringify(result)}\n`)
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}
