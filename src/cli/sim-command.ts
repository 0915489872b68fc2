import type { Command } from 'commander'
import { MeshsyncError } from '../util/errors.js'

/**
 * `meshsync sim`: runs a simulated cluster through a scenario (churn,
 * evacuations, partitions, a corrupt source, a full disk, capped links,
 * promotions, a new identity), checks the invariants all through the run and
 * writes DIR/report.json and DIR/report.html. Exits 1 naming each broken
 * invariant with its file and nodes. The harness lives in sim/ (docs/sim.md).
 */
export function registerSimCommand(program: Command): void {
  program
    .command('sim')
    .description('run a simulated cluster through a scenario, check the invariants and write a report (docs/sim.md)')
    .option('--scenario <name|file>', 'a scenario in sim/scenarios (demo, ci, churn, ...) or a YAML file', 'demo')
    .option('--nodes <n>', "number of nodes (default: the scenario's)")
    .option('--duration <seconds>', "seconds of activity before settling (default: the scenario's)")
    .option('--seed <n>', 'seed for the schedule of faults and data (same seed, same schedule)')
    .option('--report <dir>', 'where report.json, report.html and node logs go', 'sim-report')
    .option('--mode <mode>', "inprocess | processes | netns (default: the scenario's)")
    .option('--settle <seconds>', "at most this long for the cluster to settle after the last fault (default: the scenario's)")
    .option('--work-dir <dir>', "where the nodes' data dirs go (default: a temp folder)")
    .option('--keep', 'keep the data dirs after the run')
    .option('--node-log <level>', 'in-process nodes log at this level to stderr (default: silent)')
    .option('--list', 'list the built-in scenarios and exit')
    .action(async (o: Record<string, unknown>) => {
      const [{ runSim }, { listScenarios, ScenarioError }, { PlanError }] = await Promise.all([
        import('../../sim/run/runner.js'),
        import('../../sim/scenario/load.js'),
        import('../../sim/scenario/plan.js'),
      ])
      if (o.list === true) {
        process.stdout.write(`${listScenarios().join('\n')}\n`)
        return
      }
      const num = (flag: string, v: unknown, integer = false): number | undefined => {
        if (v == null) return undefined
        const n = Number(v)
        if (!Number.isFinite(n) || n < 0 || (integer && !Number.isInteger(n))) throw new MeshsyncError('ERR_USAGE', `${flag}: expected a ${integer ? 'whole ' : ''}number, got '${String(v)}'`)
        return n
      }
      const mode = o.mode as string | undefined
      if (mode != null && !['inprocess', 'processes', 'netns'].includes(mode)) throw new MeshsyncError('ERR_USAGE', `--mode: expected inprocess, processes or netns, got '${mode}'`)
      try {
        const out = await runSim({
          scenario: String(o.scenario),
          nodes: num('--nodes', o.nodes, true),
          durationS: num('--duration', o.duration),
          seed: num('--seed', o.seed, true),
          settleS: num('--settle', o.settle),
          mode: mode as 'inprocess' | undefined,
          reportDir: String(o.report),
          workDir: o.workDir as string | undefined,
          keep: o.keep === true,
          nodeLogLevel: o.nodeLog as string | undefined,
        })
        const figures = out.report.figures
        const line = (k: string) => (figures[k] != null ? `${k}=${figures[k]}` : undefined)
        process.stdout.write(
          `${Object.entries(out.report.invariants)
            .map(([k, v]) => `${v.ok ? 'ok  ' : 'FAIL'} ${k}`)
            .join('\n')}\n${['gossipP50Ms', 'gossipP99Ms', 'transferP50Ms', 'transferP99Ms', 'failureDetectionMs', 'repairMs', 'stormFactor'].map(line).filter((x) => x != null).join(' ')}\nreport: ${out.reportHtml}\n`,
        )
        if (!out.ok) {
          for (const b of out.breaches) process.stderr.write(`meshsync sim: invariant ${b.invariant} broken: ${b.message}\n`)
          process.exitCode = 1
        }
      } catch (err) {
        if (err instanceof ScenarioError || err instanceof PlanError) throw new MeshsyncError('ERR_SCENARIO', err.message)
        throw err
      }
    })
}
