import type { MeshsyncNode } from '../node.js'
import { RawResponse, STREAMING, type ApiServer } from './server.js'

/** The HTTP API's routes. Handlers call the node's read models and commands only. */
export function registerRoutes(api: ApiServer, node: MeshsyncNode): void {
  api
    .route('GET', '/health', () => ({ ok: true, peerId: node.peerId, name: node.config.node.name, uptimeMs: node.clock.now() - node.startedMs, diskLevel: node.diskLevel }))
    .route('GET', '/status', () => node.readModels.status())
    .route('GET', '/peers', () => node.readModels.peers())
    .route('GET', '/files', (req) => node.readModels.files({ where: req.query.get('where') ?? undefined }))
    .route('GET', '/events', (req) =>
      node.events.list({
        sinceId: Number(req.query.get('since') ?? 0) || 0,
        limit: Number(req.query.get('limit') ?? 500) || 500,
        types: req.query.get('type')?.split(','),
      }),
    )
    .route('GET', '/events/stream', (req) => {
      // server-sent events: the backlog after ?since=, then live events
      const res = req.res
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' })
      const types = req.query.get('type')?.split(',').filter((t) => t !== '')
      const send = (e: { id: number; type: string }): void => {
        if (types != null && types.length > 0 && !types.includes(e.type)) return
        res.write(`id: ${e.id}\nevent: ${e.type}\ndata: ${JSON.stringify(e)}\n\n`)
      }
      const since = Number(req.query.get('since') ?? req.raw.headers['last-event-id'] ?? -1)
      if (since >= 0) for (const e of node.events.list({ sinceId: since, limit: 10_000 })) send(e)
      const off = node.events.subscribe(send)
      const ping = setInterval(() => res.write(': ping\n\n'), 15_000)
      req.raw.on('close', () => {
        off()
        clearInterval(ping)
      })
      return STREAMING
    })
    .route('GET', '/metrics', async () => new RawResponse(200, 'text/plain; version=0.0.4; charset=utf-8', await node.metrics.text()))
}
