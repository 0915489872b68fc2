import { IncompatibleError } from '../util/errors.js'
import { COMMIT, PROTOCOLS, VERSION } from './version.js'

/**
 * Refuses to start a node that does not speak every protocol ID the cluster
 * config requires (`cluster.requireProtocols`, the same file on every host):
 * after a cluster moves to a new protocol version, a host left on an old build
 * says so at start instead of joining and failing peer by peer.
 */
export function checkRequiredProtocols(required: readonly string[], spoken: readonly string[] = PROTOCOLS): void {
  const missing = required.filter((p) => !spoken.includes(p))
  if (missing.length === 0) return
  throw new IncompatibleError(
    `cluster.requireProtocols requires ${missing.join(', ')}, which meshsync ${VERSION} (commit ${COMMIT}) does not speak (it speaks ${spoken.join(', ')}); upgrade meshsync on this host (meshsync --version lists what a build speaks)`,
  )
}
