import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { createServer as createTlsServer } from 'node:https'
import type { AddressInfo } from 'node:net'
import { MeshsyncError } from '../util/errors.js'
import { fromSource, listenReason, StartupError } from '../util/startup-error.js'
import type { Logger } from '../util/log.js'
import { ApiRefusedError, type Caller, type RequestGuard } from './guard.js'

export type Handler = (req: ApiRequest) => Promise<unknown> | unknown

export interface ApiRequest {
  method: string
  path: string
  query: URLSearchParams
  /** Parsed JSON body (POST), bounded to 1 MiB. */
  body: unknown
  raw: IncomingMessage
  res: ServerResponse
  /** Who called: the API key, a dashboard session, or nobody (public routes only). */
  caller: Caller
}

export interface RouteOptions {
  /** Answered without the API key (liveness, the dashboard's page, login). */
  public?: boolean
}

/** A handler's way to answer with something other than JSON. */
export class RawResponse {
  constructor(
    readonly status: number,
    readonly contentType: string,
    readonly body: string | Buffer,
    readonly headers: Record<string, string> = {},
  ) {}
}

/** The handler took over the response (server-sent events). */
export const STREAMING = Symbol('streaming')

const MAX_BODY = 1024 * 1024

const STATUS_BY_CODE: Record<string, number> = {
  ERR_NOT_FOUND: 404,
  ERR_INVALID_REQUEST: 400,
  ERR_VALIDATION: 422,
  ERR_UNSAFE_PATH: 400,
  ERR_BUSY: 503,
  ERR_OVER_LIMIT: 413,
  ERR_CONFIG: 400,
  ERR_TOO_LARGE: 413,
}

export class BadRequestError extends MeshsyncError {
  constructor(message: string) {
    super('ERR_INVALID_REQUEST', message)
  }
}

export class TooLargeError extends MeshsyncError {
  constructor(message: string) {
    super('ERR_TOO_LARGE', message)
  }
}

/**
 * The local HTTP API: JSON in and out, bound to 127.0.0.1 by default. Routes
 * are plain functions; errors become `{ error: message, code }` with a
 * status from the error's code. With a guard, every request passes its checks
 * first (guard.ts); without one (a bare server in a test) none are made.
 */
export class ApiServer {
  readonly #routes = new Map<string, { handler: Handler; public: boolean }>()
  readonly #log: Logger
  readonly #guard: RequestGuard | undefined
  #server: Server | undefined

  constructor(log: Logger, guard?: RequestGuard) {
    this.#log = log
    this.#guard = guard
  }

  route(method: 'GET' | 'POST' | 'DELETE', path: string, handler: Handler, opts: RouteOptions = {}): this {
    this.#routes.set(`${method} ${path}`, { handler, public: opts.public === true })
    return this
  }

  /** Binds the port (TLS when cert and key are given); `source` is where api.listen was set (for the message when the address cannot be had). */
  async listen(hostPort: string, opts: { source?: string; tls?: { cert: string; key: string } } = {}): Promise<{ host: string; port: number }> {
    const { source, tls } = opts
    const i = hostPort.lastIndexOf(':')
    const host = hostPort.slice(0, i)
    const port = Number(hostPort.slice(i + 1))
    const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
      // #handle answers every error it knows; anything else must not become an unhandled rejection (which ends the node)
      this.#handle(req, res).catch((err: unknown) => {
        this.#log.error({ err: (err as Error).message }, 'api request failed')
        res.destroy()
      })
    }
    const server: Server = tls != null ? createTlsServer({ cert: tls.cert, key: tls.key }, onRequest) : createServer(onRequest)
    server.keepAliveTimeout = 5000
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) => {
        const known = listenReason(err.code ?? '')
        const why = known == null ? `cannot be listened on: ${err.message}` : err.code === 'EADDRINUSE' ? `${known} (another meshsync node?)` : known
        reject(new StartupError('api.listen', `api.listen ${hostPort} ${why}${fromSource(source)}; set api.listen or --api HOST:PORT`, { cause: err }))
      })
      server.listen(port, host, () => resolve())
    })
    this.#server = server
    const addr = server.address() as AddressInfo
    return { host: addr.address, port: addr.port }
  }

  async close(): Promise<void> {
    const s = this.#server
    if (s == null) return
    this.#server = undefined
    s.closeAllConnections()
    await new Promise<void>((resolve) => s.close(() => resolve()))
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let url: URL
    try {
      url = new URL(req.url ?? '/', 'http://local')
    } catch {
      // a request target such as `//` or `/\` is no URL: refused before any route, guard or key check
      res.writeHead(400, { 'content-type': 'application/json; charset=utf-8' })
      res.end(JSON.stringify({ error: `not a request target: ${JSON.stringify((req.url ?? '').slice(0, 100))}`, code: 'ERR_INVALID_REQUEST' }))
      return
    }
    const method = req.method ?? 'GET'
    const route = this.#routes.get(`${method} ${url.pathname}`)
    const guard = this.#guard
    try {
      guard?.checkHost(req)
      if (route == null) {
        const allowed = [...this.#routes.keys()].some((k) => k.endsWith(` ${url.pathname}`))
        throw Object.assign(new MeshsyncError(allowed ? 'ERR_METHOD' : 'ERR_NOT_FOUND', `${allowed ? 'method not allowed' : 'no such route'}: ${method} ${url.pathname}`), {
          status: allowed ? 405 : 404,
        })
      }
      const mutating = method !== 'GET' && method !== 'HEAD'
      const length = Number(req.headers['content-length'] ?? 0)
      if (length > MAX_BODY) throw new TooLargeError(`request body of ${length} bytes is over the limit of ${MAX_BODY}`)
      let caller: Caller = { via: 'key' }
      if (guard != null) {
        if (mutating) guard.checkMutation(req)
        caller = guard.caller(req)
        if (!route.public && (mutating || guard.beyondLoopback)) guard.requireAuth(req, caller, mutating)
      }
      const body = method === 'POST' ? await readJson(req) : undefined
      const out = await route.handler({ method, path: url.pathname, query: url.searchParams, body, raw: req, res, caller })
      if (out === STREAMING) return
      if (out instanceof RawResponse) {
        res.writeHead(out.status, { 'content-type': out.contentType, ...out.headers })
        res.end(out.body)
        return
      }
      const text = JSON.stringify(out ?? null)
      res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) })
      res.end(text)
    } catch (err) {
      const e = err as MeshsyncError & { status?: number }
      const status = e.status ?? STATUS_BY_CODE[e.code] ?? 500
      if (status >= 500) this.#log.error({ route: `${method} ${url.pathname}`, err: e.message }, 'api error')
      if (res.headersSent) {
        res.end()
        return
      }
      const text = JSON.stringify({ error: e.message, code: e.code ?? 'ERR_INTERNAL' })
      const extra = err instanceof ApiRefusedError ? err.headers : {}
      res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...extra })
      res.end(text)
    }
  }
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const c of req) {
    size += (c as Buffer).length
    if (size > MAX_BODY) throw new TooLargeError(`request body over the limit of ${MAX_BODY} bytes`)
    chunks.push(c as Buffer)
  }
  if (size === 0) return {}
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'))
  } catch {
    throw new BadRequestError('request body is not JSON')
  }
}
