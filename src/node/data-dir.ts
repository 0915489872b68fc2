import { stat } from 'node:fs/promises'
import { fromSource, StartupError } from '../util/startup-error.js'

/**
 * Checks the data dir before a node starts. A data dir that someone named
 * (flag, environment or config file: `source` is set) must exist unless
 * `init` says to create it: a typo in a unit file must not start a new peer
 * with a new identity. With no data dir named at all (`./data`, the quick
 * start) it is created. A path that is a file is always refused.
 * Returns whether the folder is there already.
 */
export async function checkDataDir(dataDir: string, source: string | undefined, init: boolean): Promise<'exists' | 'new'> {
  let isDir: boolean
  try {
    isDir = (await stat(dataDir)).isDirectory()
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'ENOTDIR') throw new StartupError('dataDir', `data dir ${dataDir} is under a file, not a folder${fromSource(source)}; set dataDir or --data-dir`)
    if (code !== 'ENOENT') throw new StartupError('dataDir', `data dir ${dataDir}: ${(err as Error).message}${fromSource(source)}`)
    if (source != null && !init) {
      throw new StartupError(
        'dataDir',
        `data dir ${dataDir} does not exist${fromSource(source)}; a new data dir is a new peer: create it with 'meshsync init ${dataDir}' or start with --init, or fix dataDir`,
      )
    }
    return 'new'
  }
  if (!isDir) throw new StartupError('dataDir', `data dir ${dataDir} is a file, not a folder${fromSource(source)}; set dataDir or --data-dir`)
  return 'exists'
}
