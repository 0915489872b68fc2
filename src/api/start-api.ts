import { configSource } from '../config/load.js'
import type { MeshsyncNode } from '../node.js'
import { registerAuthRoutes } from './auth-routes.js'
import { registerDashboardRoutes } from './dashboard-routes.js'
import { registerHealthMetrics } from './health-metrics.js'
import { registerHealthRoutes } from './health-routes.js'
import { RequestGuard } from './guard.js'
import { loadOrCreateApiKey, registerRunningNode } from './key.js'
import { registerRoutes } from './routes.js'
import { ApiServer } from './server.js'
import type { ApiTls } from './tls.js'

export interface StartedApi {
  server: ApiServer
  address: { host: string; port: number }
  key: string
  /** Removes this node from the per-user registry. */
  unregister: () => void
}

/** Builds the API with its guard, binds it, and records the node in the per-user registry (key.ts). */
export async function startApi(node: MeshsyncNode, tls: ApiTls | undefined, extra: ((api: ApiServer) => void)[] = []): Promise<StartedApi> {
  const cfg = node.config.api
  const key = loadOrCreateApiKey(node.layout.stateDir)
  const i = cfg.listen.lastIndexOf(':')
  const listenHost = cfg.listen.slice(0, i)
  const guard = new RequestGuard({
    key,
    listenHost,
    port: Number(cfg.listen.slice(i + 1)),
    allowedHosts: cfg.allowedHosts,
    tls: tls != null,
    clock: node.clock,
    maxFailedLogins: cfg.maxFailedLogins,
  })
  const server = new ApiServer(node.log, guard)
  registerRoutes(server, node)
  registerAuthRoutes(server, guard)
  registerHealthRoutes(server, node)
  registerDashboardRoutes(server, node)
  registerHealthMetrics(node)
  for (const add of extra) add(server)
  const address = await server.listen(cfg.listen, { source: configSource(node.config, 'api.listen'), tls: tls != null ? { cert: tls.cert, key: tls.key } : undefined })
  guard.port = address.port
  let unregister = (): void => {}
  try {
    unregister = registerRunningNode({
      api: `${listenHost}:${address.port}`,
      host: listenHost,
      port: address.port,
      pid: process.pid,
      key,
      dataDir: node.layout.dataDir,
      scheme: tls != null ? 'https' : 'http',
    })
  } catch (err) {
    node.log.warn({ err: (err as Error).message }, 'could not record this node in the per-user registry; CLI commands need --api-key')
  }
  if (tls?.selfSigned) node.log.info({ fingerprint: tls.fingerprint }, 'API serves a self-signed TLS certificate')
  return { server, address, key, unregister }
}
