import { readFileSync } from 'node:fs'

/** meshsync's version, from package.json. */
export const VERSION: string = (() => {
  for (const rel of ['../../package.json', '../../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(rel, import.meta.url), 'utf8')) as { name?: string; version?: string }
      if (pkg.name === 'meshsync' && pkg.version != null) return pkg.version
    } catch {
      // try the next location (source tree vs dist/)
    }
  }
  return '0.0.0'
})()
