import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { ResolvedPolicy } from '../../src/config/policies.js'
import type { SinkConfig } from '../../src/sinks/config.js'
import type { Sink } from '../../src/sinks/index.js'
import { initPathSink } from '../../src/sinks/path.js'
import { openSink } from '../../src/sinks/verify.js'
import type { Scenario } from '../scenario/schema.js'

const BUCKET = 'meshsync-sim'
/** s3rver accepts this key pair; it is no secret, but goes through a credentials file as a real one would. */
const S3RVER_KEYS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' }

/** The part of s3rver the harness uses (a dev dependency, loaded only when a scenario declares an s3 sink). */
interface S3Server {
  close(): Promise<void>
}

/**
 * The backup sinks of a simulated cluster: path sinks are folders in the run
 * dir (marked, as `meshsync sink init` does), an s3 sink is an s3rver the
 * harness starts on 127.0.0.1 at a port the OS picks, its bucket stored in
 * the run dir. Every node gets the same `sinks.NAME` entries, and the
 * scenario's `policies` backup keys merged into the cluster's policies.
 */
export class SimSinks {
  readonly configs: Record<string, SinkConfig>
  readonly #servers: S3Server[]
  readonly #policies: Record<string, unknown>
  #open: Sink[] | undefined

  private constructor(configs: Record<string, SinkConfig>, servers: S3Server[], policies: Record<string, unknown>) {
    this.configs = configs
    this.#servers = servers
    this.#policies = policies
  }

  /** Sets up the scenario's sinks under `dir`; undefined when it declares none. */
  static async start(scenario: Scenario, dir: string, policies: readonly ResolvedPolicy[], mode: string): Promise<SimSinks | undefined> {
    const names = Object.keys(scenario.sinks)
    if (names.length === 0) return undefined
    const configs: Record<string, SinkConfig> = {}
    const servers: S3Server[] = []
    try {
      for (const name of names) {
        const spec = scenario.sinks[name]!
        if (spec.type === 'path') {
          const root = join(dir, 'sinks', name)
          await mkdir(root, { recursive: true })
          await initPathSink(root)
          configs[name] = { type: 'path', path: root }
          continue
        }
        // a node in its own network namespace cannot reach the harness's loopback
        if (mode === 'netns') throw new Error(`sinks.${name}: an s3 sink listens on the harness's loopback, which nodes in netns mode cannot reach; use a path sink there`)
        const server = await startS3rver(join(dir, 's3', name))
        servers.push(server.server)
        const credentials = join(dir, 's3', `${name}-credentials.json`)
        await writeFile(credentials, JSON.stringify(S3RVER_KEYS), { mode: 0o600 })
        configs[name] = { type: 's3', endpoint: `http://127.0.0.1:${server.port}`, bucket: BUCKET, prefix: spec.prefix, region: 'us-east-1', forcePathStyle: true, credentials: { file: credentials } }
      }
    } catch (err) {
      await Promise.all(servers.map((s) => s.close().catch(() => {})))
      throw err
    }
    return new SimSinks(configs, servers, backupPolicies(scenario, policies))
  }

  /** Config keys every node gets: the sinks, a short backup tick, and the policies with their backup keys. */
  settings(): Record<string, unknown> {
    const sinks: Record<string, unknown> = { intervalSeconds: 1, ...this.configs }
    return { sinks, policies: this.#policies }
  }

  /** The sinks as the harness reads them (the invariants check copies through them). */
  open(): Sink[] {
    this.#open ??= Object.entries(this.configs).map(([name, cfg]) => openSink(name, cfg))
    return this.#open
  }

  async stop(): Promise<void> {
    for (const s of this.#open ?? []) if ('close' in s && typeof s.close === 'function') s.close()
    await Promise.all(this.#servers.map((s) => s.close().catch(() => {})))
  }
}

async function startS3rver(directory: string): Promise<{ server: S3Server; port: number }> {
  let S3rver: typeof import('s3rver')
  try {
    S3rver = (await import('s3rver')).default
  } catch (err) {
    throw new Error(`an s3 sink in the simulation needs the s3rver package (a dev dependency: npm install without --omit=dev), or use a path sink: ${(err as Error).message}`)
  }
  await mkdir(directory, { recursive: true })
  const server = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory, configureBuckets: [{ name: BUCKET }] })
  const { port } = await server.run()
  return { server, port }
}

/**
 * The cluster's policies (as the scenario's config resolves them: built in,
 * or configured) with the scenario's backup keys merged in. All of them are
 * written out, since naming one policy in the config replaces the built-ins.
 */
function backupPolicies(scenario: Scenario, policies: readonly ResolvedPolicy[]): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const { name, builtin: _b, matches: _m, excluded: _e, ...p } of policies) out[name] = { ...p, ...(scenario.policies[name] ?? {}) }
  for (const name of Object.keys(scenario.policies)) {
    if (out[name] == null) throw new Error(`policies.${name}: no such policy in the cluster (${policies.map((p) => p.name).join(', ')})`)
  }
  return out
}
