import type { MeshsyncNode } from '../node.js'
import { clusterHealth } from './cluster-health.js'
import { RawResponse, type ApiServer } from './server.js'

/** GET /health/cluster: 200 when the cluster is safe, 503 with the problems when it is not. */
export function registerHealthRoutes(api: ApiServer, node: MeshsyncNode): void {
  api.route('GET', '/health/cluster', async () => {
    const h = await clusterHealth(node)
    return new RawResponse(h.ok ? 200 : 503, 'application/json; charset=utf-8', JSON.stringify(h))
  })
}
