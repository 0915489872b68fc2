import { configSource, type ResolvedConfig } from '../config/load.js'
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
  return err
}
