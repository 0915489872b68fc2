import { readFileSync } from 'node:fs'
import { ATTEST_PROTOCOL } from '../../protocols/attest/constants.js'
import { BLOB_PROTOCOL } from '../../protocols/blob/constants.js'
import { HEALTH_TOPIC } from '../../protocols/health/constants.js'
import { MANIFEST_SYNC_PROTOCOL, MANIFEST_TOPIC } from '../../protocols/manifest/constants.js'

/** The JSON file `name` found beside the package root (the source tree, dist/, or a release's app/). */
function readBesidePackage<T>(name: string, accept: (v: T) => boolean): T | undefined {
  for (const rel of ['../../', '../../../']) {
    try {
      const v = JSON.parse(readFileSync(new URL(`${rel}${name}`, import.meta.url), 'utf8')) as T
      if (accept(v)) return v
    } catch {
      // try the next location (source tree vs dist/)
    }
  }
  return undefined
}

/** meshsync's version, from package.json. */
export const VERSION: string =
  readBesidePackage<{ name?: string; version?: string }>('package.json', (p) => p.name === 'meshsync' && p.version != null)?.version ?? '0.0.0'

/** The git commit this build was made from: written into build-info.json by `npm run release`; 'unknown' otherwise. */
export const COMMIT: string = readBesidePackage<{ commit: string }>('build-info.json', (b) => typeof b.commit === 'string')?.commit ?? 'unknown'

/**
 * Every protocol ID and gossip topic this build speaks. A protocol's version is
 * in its ID (`/meshsync/blob/1.0.0`, topic `/meshsync/health/1`); a new
 * incompatible layout gets a new ID. `cluster.requireProtocols` names IDs from here.
 */
export const PROTOCOLS: readonly string[] = [BLOB_PROTOCOL, MANIFEST_SYNC_PROTOCOL, ATTEST_PROTOCOL, MANIFEST_TOPIC, HEALTH_TOPIC]

/** What `meshsync --version` prints. */
export function versionText(): string {
  return [`meshsync ${VERSION} (commit ${COMMIT})`, `node ${process.versions.node}`, 'protocols:', ...PROTOCOLS.map((p) => `  ${p}`)].join('\n')
}

/**
 * What a node puts in its health `version`: `0.1.0+<12 hex of the commit>` for
 * a release build, plain `0.1.0` when the commit is unknown (a development tree,
 * or a build from before commits were embedded). Different strings = mixed versions.
 */
export const BUILD_VERSION: string = COMMIT === 'unknown' ? VERSION : `${VERSION}+${COMMIT.slice(0, 12)}${COMMIT.endsWith('-dirty') ? '.dirty' : ''}`

/** How many nodes run each build, from the builds of the nodes that are not down; `mixed` when more than one. */
export function versionSummary(builds: readonly string[]): { mixed: boolean; counts: Record<string, number> } {
  const counts: Record<string, number> = {}
  for (const b of builds) counts[b] = (counts[b] ?? 0) + 1
  return { mixed: Object.keys(counts).length > 1, counts }
}
