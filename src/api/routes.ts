import type { MeshsyncNode } from '../node.js'
import { NotFoundError } from '../util/errors.js'
import { BadRequestError, RawResponse, STREAMING, type ApiServer } from './server.js'

const SHA256 = /^[0-9a-f]{64}$/

function sha256Of(v: unknown): string {
  if (typeof v !== 'string' || !SHA256.test(v)) throw new BadRequestError('sha256 must be 64 lower-case hex digits')
  return v
}

function body(req: { body: unknown }): Record<string, unknown> {
  if (req.body == null || typeof req.body !== 'object' || Array.isArray(req.body)) throw new BadRequestError('expected a JSON object')
  return req.body as Record<string, unknown>
}

/** The HTTP API's routes. Handlers call the node's read models and commands only. */
export function registerRoutes(api: ApiServer, node: MeshsyncNode): void {
  api
    // liveness: answered without the key, also beyond loopback (load balancers, process supervisors)
    .route('GET', '/health', () => ({ ok: true, peerId: node.peerId, name: node.config.node.name, uptimeMs: node.clock.now() - node.startedMs, diskLevel: node.diskLevel }), { public: true })
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
      // send the headers now: otherwise a subscriber sees nothing until the first event or ping (15 s)
      res.flushHeaders()
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
    .route('POST', '/fetch', (req) => {
      const b = body(req)
      const sha256 = sha256Of(b.sha256)
      const from = b.from == null ? undefined : String(b.from)
      // starts the transfer; progress and the outcome are at GET /transfer?sha256=
      const done = node.fetch(sha256, { from })
      done.catch(() => {})
      return Promise.race([done.then(() => ({ sha256, state: 'landed' })), new Promise((r) => setTimeout(() => r({ sha256, state: 'started' }), 50))])
    })
    .route('GET', '/transfer', (req) => {
      const sha256 = sha256Of(req.query.get('sha256'))
      const held = node.manifest.bySha(sha256)[0]
      if (held != null) return { sha256, state: 'landed', path: held.path, size: held.size }
      const t = node.transfers.list().find((x) => x.sha256 === sha256)
      if (t == null) throw new NotFoundError(`no transfer of ${sha256} here`)
      return t
    })
    .route('GET', '/transfers', () => node.transfers.list())
    .route('POST', '/promote', (req) => {
      const b = body(req)
      const which = b.sha256 ?? b.path
      if (typeof which !== 'string' || which === '') throw new BadRequestError('give the file to promote as path (under the data dir) or sha256')
      const f = node.promote(which)
      return { sha256: f.sha256, path: f.path, size: f.size, promoted: true }
    })
    .route('GET', '/replication', () => ({ ...node.readModels.replication(), nodes: node.readModels.nodes() }))
    .route('GET', '/quarantine', (req) => node.quarantine.list(req.query.get('all') === 'true'))
    .route('POST', '/quarantine/release', async (req) => node.releaseFromQuarantine(String(body(req).id ?? '')))
    .route('POST', '/quarantine/purge', async (req) => {
      const b = body(req)
      if (b.id == null && b.all !== true && b.olderThanSeconds == null) throw new BadRequestError('give id, all: true, or olderThanSeconds')
      return node.quarantine.purge({ id: b.id != null ? String(b.id) : undefined, olderThanMs: b.olderThanSeconds != null ? Number(b.olderThanSeconds) * 1000 : 0 })
    })
    .route('GET', '/merges', (req) => ({ ...node.merges.status(), sources: node.merges.provenance.sources({ merge: req.query.get('merge') ?? undefined, target: req.query.get('target') ?? undefined }) }))
    .route('GET', '/metrics', async () => new RawResponse(200, 'text/plain; version=0.0.4; charset=utf-8', await node.metrics.text()))
}
