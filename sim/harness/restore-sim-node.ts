import { spawn } from 'node:child_process'
import { mkdir } from 'node:fs/promises'
import { resolveLayers } from '../../src/config/load.js'
import { restoreNode } from '../../src/sinks/restore-node.js'
import { CLI } from './process-node.js'
import { InProcessNode, SIM_BASE_SETTINGS, type SimNode } from './sim-node.js'

export interface SimRestore {
  restored: number
  present: number
  failed: string[]
}

/**
 * `meshsync restore --init` for a stopped simulated node whose data dir is
 * gone: in-process the same restoreNode the command runs, in the process
 * modes the compiled CLI itself, with the node's settings as --set flags.
 */
export async function restoreSimNode(node: SimNode, settings: Record<string, unknown>, opts: { signal?: AbortSignal } = {}): Promise<SimRestore> {
  const id = node.id
  const values = { ...SIM_BASE_SETTINGS, ...settings, 'node.name': id.name, 'node.role': id.role, 'node.provider': id.provider, 'node.ephemeral': id.ephemeral, 'node.tags': id.tags }
  await mkdir(node.dataDir, { recursive: true })
  if (node instanceof InProcessNode) {
    const cfg = resolveLayers([{ source: `simulation restore (${id.name})`, values: { ...values, dataDir: node.dataDir } }], { cwd: process.cwd() })
    const r = await restoreNode(cfg, { signal: opts.signal })
    return { restored: r.restored.length, present: r.present, failed: r.failed.map((f) => `${f.path} from ${f.sink}: ${f.error}`) }
  }
  const args = [CLI, 'restore', '--init', '--data-dir', node.dataDir, ...Object.entries(values).flatMap(([k, v]) => ['--set', `${k}=${JSON.stringify(v)}`])]
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('MESHSYNC_TEST_')))
  const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'], signal: opts.signal })
  let out = ''
  let err = ''
  child.stdout.on('data', (b: Buffer) => {
    out = (out + b.toString('utf8')).slice(-64 * 1024)
  })
  child.stderr.on('data', (b: Buffer) => {
    err = (err + b.toString('utf8')).slice(-64 * 1024)
  })
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject)
    child.once('exit', (c) => resolve(c))
  })
  const m = /(\d+) restored, (\d+) already here, (\d+) failed/.exec(out)
  if (m == null) throw new Error(`meshsync restore on ${id.name} exited ${code} without a summary: ${err.trim().slice(-500)}`)
  const failed = err
    .split('\n')
    .filter((l) => l.startsWith('failed '))
    .map((l) => l.slice(7))
  return { restored: Number(m[1]), present: Number(m[2]), failed }
}
