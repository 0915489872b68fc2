import { configSource, type ResolvedConfig } from '../config/load.js'
import { MeshsyncError } from '../util/errors.js'
import { explainListenError, fromSource, StartupError } from '../util/startup-error.js'

/**
 * What a failed start threw, as one line an operator can act on: which
 * address or folder, and the key that sets it. Errors already typed pass
 * through unchanged.
 */
export function explainStartError(err: unknown, cfg: ResolvedConfig): unknown {
  if (err instanceof StartupError) return err
  const listen = explainListenError(err, configSource(cfg, 'listen'))
  if (listen != null) return listen
  const e = err as NodeJS.ErrnoException
  if ((e?.code === 'EEXIST' || e?.code === 'ENOTDIR') && typeof e.path === 'string' && e.path.startsWith(cfg.dataDir)) {
    return new StartupError('dataDir', `data dir ${cfg.dataDir} is not a folder (${e.path} is a file)${fromSource(configSource(cfg, 'dataDir'))}; set dataDir or --data-dir`, { cause: err })
  }
  if ((e?.code === 'EACCES' || e?.code === 'EROFS') && typeof e.path === 'string' && e.path.startsWith(cfg.dataDir)) {
    return new StartupError('dataDir', `data dir ${cfg.dataDir}: cannot write ${e.path} (${e.code})${fromSource(configSource(cfg, 'dataDir'))}`, { cause: err })
  }
  const message = firstLine(err)
  if (cfg.swarmKey != null && message.startsWith('swarm key ')) {
    return new StartupError('swarmKey', `${message}${fromSource(configSource(cfg, 'swarmKey'))}; set swarmKey or --swarm-key`, { cause: err })
  }
  if (err instanceof MeshsyncError) return err
  // anything else still ends the start in one line (the stack goes to the debug log)
  return new StartupError('start', `cannot start: ${message}`, { cause: err })
}

function firstLine(err: unknown): string {
  const m = err instanceof Error ? err.message : String(err)
  return m.split('\n')[0]!.trim()
}
