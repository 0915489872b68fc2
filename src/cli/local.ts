import { existsSync } from 'node:fs'
import type { Command } from 'commander'
import { loadOrCreateIdentity, peerIdOf } from '../../bootstrap/identity.js'
import { newSwarmKey, writeSwarmKey } from '../../bootstrap/swarm-key.js'
import { configSource, type ResolvedConfig } from '../config/load.js'
import { MeshsyncNode } from '../node.js'
import { checkDataDir } from '../node/data-dir.js'
import { ensureLayout, layoutOf } from '../node/layout.js'
import { validateFile, detectKind } from '../validate/index.js'
import { open } from 'node:fs/promises'
import { MeshsyncError } from '../util/errors.js'

interface Helpers {
  addConfigOptions(cmd: Command): Command
  configFrom(o: Record<string, unknown>): ResolvedConfig
  collect(value: string, previous?: string[]): string[]
}

/** Commands that work on this host directly (no running node needed). */
export function registerLocalCommands(program: Command, h: Helpers): void {
  h.addConfigOptions(program.command('start').description('run a meshsync node (config: file < MESHSYNC_* env < flags)'))
    .option('--listen <multiaddr>', 'libp2p listen address (repeatable)', h.collect)
    .option('--announce <multiaddr>', 'address to advertise (repeatable)', h.collect)
    .option('--api <host:port>', 'local HTTP API address (api.listen)')
    .option('--bootstrap <multiaddr>', 'bootstrap peer, ending in /p2p/<peerId> (repeatable)', h.collect)
    .option('--swarm-key <file>', 'pre-shared swarm key (private network)')
    .option('--allow-peer <peerId>', 'only these peers may connect (repeatable)', h.collect)
    .option('--role <role>', 'coordinator | training | selfplay | storage | worker')
    .option('--provider <name>', 'cloud provider (for bandwidth figures)')
    .option('--tag <tag>', 'node tag (repeatable)', h.collect)
    .option('--ephemeral', 'spot/preemptible host that may vanish')
    .option('--down-grace <seconds>', 'grace before a down node’s files stop counting as copies')
    .option('--bt-tracker <url>', 'BitTorrent tracker of your own to announce to (repeatable)', h.collect)
    .option('--local-cluster', 'many nodes on one host (tests, simulation); never on a real cluster')
    .option('--log-level <level>', 'trace | debug | info | warn | error')
    .option('--init', 'create the data dir (and a new identity) if it does not exist')
    .action(async (o: Record<string, unknown>) => {
      const config = h.configFrom(o)
      await checkDataDir(config.dataDir, configSource(config, 'dataDir'), o.init === true)
      const node = new MeshsyncNode({ config })
      await node.start()
      const scheme = node.apiTls != null ? 'https' : 'http'
      const tls = node.apiTls != null ? `\n  TLS certificate SHA-256 ${node.apiTls.fingerprint}${node.apiTls.selfSigned ? ' (self-signed)' : ''}` : ''
      process.stderr.write(
        // the first three parts (name and peer ID, `api URL`, the addresses) are what scripts read: keep their shape
        `meshsync ${config.node.name} ${node.peerId}\n  api ${scheme}://${node.apiAddress}\n${node.addresses.map((a) => `  ${a}`).join('\n')}\n` +
          `  dashboard ${scheme}://${node.apiAddress}/ (\`meshsync dashboard\` prints a login link)${tls}\n`,
      )
      await new Promise<void>((resolve) => {
        let stopping = false
        const evacuation = new AbortController()
        const stop = (signal: string): void => {
          if (stopping) return
          stopping = true
          node.log.info({ signal }, 'stopping')
          node.stop().then(resolve, (err) => {
            process.stderr.write(`meshsync: error while stopping: ${(err as Error).message}\n`)
            resolve()
          })
        }
        process.once('SIGINT', () => {
          evacuation.abort()
          stop('SIGINT')
        })
        // SIGTERM is a spot termination notice: evacuate (rarest files first) within the deadline, then stop;
        // a second SIGTERM stops at once
        process.once('SIGTERM', () => {
          process.once('SIGTERM', () => {
            evacuation.abort()
            stop('SIGTERM')
          })
          node.log.info({ deadlineSeconds: config.replication.evacuationDeadlineSeconds }, 'SIGTERM: evacuating before stopping')
          node
            .evacuate(undefined, evacuation.signal)
            .then((r) => node.log.info({ safe: r.safe, left: r.left.length, unplaceable: r.unplaceable.map((u) => u.path), ms: r.ms }, 'evacuation finished'))
            .catch((err) => node.log.warn({ err: (err as Error).message }, 'evacuation failed'))
            .finally(() => stop('SIGTERM'))
        })
      })
    })

  h.addConfigOptions(program.command('init').description('create a data dir and its identity (a new peer); prints the peer ID'))
    .argument('[dir]', 'the data dir (default: --data-dir, MESHSYNC_DATA_DIR, the config’s dataDir, or ./meshsync-data)')
    .option('--json', 'print JSON')
    .action(async (dir: string | undefined, o: Record<string, unknown>) => {
      const config = h.configFrom(dir != null ? { ...o, dataDir: dir } : o)
      await checkDataDir(config.dataDir, undefined, true)
      const layout = layoutOf(config.dataDir)
      await ensureLayout(layout)
      const { privateKey, created } = await loadOrCreateIdentity(layout.identity)
      const peerId = peerIdOf(privateKey)
      if (o.json === true) process.stdout.write(`${JSON.stringify({ peerId, dataDir: config.dataDir, identityFile: layout.identity, created })}\n`)
      else {
        process.stdout.write(`${peerId}\n`)
        process.stderr.write(created ? `initialised ${config.dataDir} with a new identity\n` : `${config.dataDir} already has an identity; kept it\n`)
      }
    })

  h.addConfigOptions(program.command('id').description("print this node's peer ID (creating its identity on first use)"))
    .option('--json', 'print JSON')
    .action(async (o: Record<string, unknown>) => {
      const config = h.configFrom(o)
      const path = layoutOf(config.dataDir).identity
      const { privateKey, created } = await loadOrCreateIdentity(path)
      const peerId = peerIdOf(privateKey)
      if (o.json === true) process.stdout.write(`${JSON.stringify({ peerId, identityFile: path, created })}\n`)
      else {
        process.stdout.write(`${peerId}\n`)
        if (created) process.stderr.write(`created a new identity in ${path}\n`)
      }
    })

  program
    .command('swarm-key')
    .description('create a pre-shared swarm key for a private network (every node needs the same file)')
    .argument('[file]', 'write it to this file (mode 0600); without it, print it')
    .option('--force', 'overwrite an existing file')
    .action(async (file: string | undefined, o: Record<string, unknown>) => {
      if (file == null) {
        process.stdout.write(Buffer.from(newSwarmKey()).toString('utf8'))
        process.stdout.write('\n')
        return
      }
      if (existsSync(file) && o.force !== true) {
        throw new MeshsyncError('ERR_EXISTS', `${file} exists; a new key would cut this host off from the cluster. Use --force to replace it`)
      }
      await writeSwarmKey(file)
      process.stderr.write(`wrote ${file}; copy it to every node and set swarmKey (or --swarm-key)\n`)
    })

  program
    .command('verify')
    .description('run the kind validation (npz, sqlite, safetensors) on a local file and print the verdict')
    .argument('<file>')
    .option('--kind <kind>', 'sqlite | npz | model | other (default: detected)')
    .option('--quick', 'structure and headers only, not every byte')
    .option('--json', 'print JSON')
    .action(async (file: string, o: Record<string, unknown>) => {
      const fh = await open(file, 'r').catch((err: NodeJS.ErrnoException) => {
        throw new MeshsyncError('ERR_NOT_FOUND', `${file}: ${err.code === 'ENOENT' ? 'no such file' : err.message}`)
      })
      const head = Buffer.alloc(64)
      const { bytesRead } = await fh.read(head, 0, 64, 0)
      await fh.close()
      const kind = (o.kind as ReturnType<typeof detectKind> | undefined) ?? detectKind(file, head.subarray(0, bytesRead))
      const verdict = await validateFile(file, kind, { depth: o.quick === true ? 'quick' : 'deep' })
      if (o.json === true) process.stdout.write(`${JSON.stringify({ file, ...verdict })}\n`)
      else process.stdout.write(verdict.ok ? `${file}: valid ${kind}\n` : `${file}: INVALID ${kind}: ${verdict.reason}\n`)
      if (!verdict.ok) process.exitCode = 3
    })

  h.addConfigOptions(program.command('config').description('print the resolved configuration (checks it too)'))
    .option('--listen <multiaddr>', 'libp2p listen address (repeatable)', h.collect)
    .option('--api <host:port>', 'local HTTP API address')
    .option('--bootstrap <multiaddr>', 'bootstrap peer (repeatable)', h.collect)
    .action(async (o: Record<string, unknown>) => {
      const { resolvedPolicies, keySources: _s, ...config } = h.configFrom(o)
      const policies = resolvedPolicies.map(({ matches: _m, excluded: _e, ...p }) => p)
      process.stdout.write(`${JSON.stringify({ ...config, policies }, null, 2)}\n`)
    })
}

/** `meshsync restore`: a node's data dir rebuilt from the backup sinks alone (src/sinks/restore-node.ts). */
export function registerRestoreCommand(program: Command, h: Helpers): void {
  h.addConfigOptions(program.command('restore').description('restore files from the backup sinks into the data dir (run with the node stopped)'))
    .option('--from <sink>', 'restore from this sink only (repeatable; default: every configured sink)', h.collect)
    .option('--where <glob>', 'only paths matching this glob')
    .option('--init', 'create the data dir (and a new identity) if it does not exist')
    .action(async (o: Record<string, unknown>) => {
      const config = h.configFrom(o)
      await checkDataDir(config.dataDir, configSource(config, 'dataDir'), o.init === true)
      const { restoreNode } = await import('../sinks/restore-node.js')
      const r = await restoreNode(config, { from: o.from as string[] | undefined, where: o.where as string | undefined })
      for (const f of r.restored) process.stdout.write(`restored ${f.path} (${f.size} bytes) from sink ${f.sink}\n`)
      for (const f of r.failed) process.stderr.write(`failed ${f.path} from sink ${f.sink}: ${f.error}\n`)
      process.stdout.write(`${r.restored.length} restored, ${r.present} already here, ${r.failed.length} failed\n`)
      if (r.failed.length > 0) process.exitCode = 1
    })
}

/** `meshsync sink init NAME`: marks a path sink's folder (it must exist: a mounted drive) with `.meshsync-sink`. */
export function registerSinkCommand(program: Command, h: Helpers): void {
  const sink = program.command('sink').description('backup sinks')
  h.addConfigOptions(sink.command('init <name>').description('mark the folder of path sink NAME as a sink (run once, with the drive mounted)')).action(
    async (name: string, o: Record<string, unknown>) => {
      const config = h.configFrom(o)
      const s = config.sinks.targets[name]
      if (s == null) throw new MeshsyncError('ERR_CONFIG', `sinks.${name}: no such sink (configured: ${Object.keys(config.sinks.targets).join(', ') || 'none'})`)
      if (s.type !== 'path') throw new MeshsyncError('ERR_CONFIG', `sinks.${name}: is an ${s.type} sink; only path sinks need init`)
      const { initPathSink } = await import('../sinks/path.js')
      await initPathSink(s.path)
      process.stdout.write(`sink ${name}: ${s.path} marked (.meshsync-sink)\n`)
    },
  )
}
