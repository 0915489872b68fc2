import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import type { IncomingMessage } from 'node:http'
import { hostname, networkInterfaces } from 'node:os'
import type { Clock } from '../util/clock.js'
import { MeshsyncError } from '../util/errors.js'
import { isLoopbackHost, isWildcardHost } from './key.js'

/** A refused request: its HTTP status and a code of its own, so each case says what it is. */
export class ApiRefusedError extends MeshsyncError {
  constructor(
    code: string,
    message: string,
    readonly status: number,
    readonly headers: Record<string, string> = {},
  ) {
    super(code, message)
  }
}

export interface GuardOptions {
  key: string
  /** The configured listen host (as in api.listen). */
  listenHost: string
  port: number
  allowedHosts: string[]
  tls: boolean
  clock: Clock
  /** Failed logins per address and minute before 429. */
  maxFailedLogins?: number
  sessionTtlMs?: number
}

interface Session {
  csrf: string
  expiresAt: number
}

export type Caller = { via: 'key' } | { via: 'session'; csrf: string } | { via: 'none' }

const digest = (s: string): Buffer => createHash('sha256').update(s).digest()
const MINUTE = 60_000

/**
 * Who may call the API, checked before any route runs: the Host header (DNS
 * rebinding), content type and Origin of mutating requests (cross-site form
 * posts), and the API key, given as `Authorization: Bearer`, `X-API-Key`, or a
 * cookie session from a login (whose mutating requests also carry the
 * session's CSRF token in `X-CSRF-Token`).
 */
export class RequestGuard {
  readonly #o: GuardOptions
  readonly #keyDigest: Buffer
  readonly #hosts: Set<string>
  readonly #anyHost: boolean
  readonly #sessions = new Map<string, Session>()
  readonly #oneTime = new Map<string, number>()
  readonly #failures = new Map<string, number[]>()
  #port: number

  constructor(o: GuardOptions) {
    this.#o = o
    this.#port = o.port
    this.#keyDigest = digest(o.key)
    const hosts = ['localhost', '127.0.0.1', '::1', o.listenHost, ...o.allowedHosts]
    if (isWildcardHost(o.listenHost)) {
      // listening everywhere: this machine's own names and addresses are its own
      hosts.push(hostname())
      for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) hosts.push(a.address)
    }
    this.#hosts = new Set(hosts.map((h) => h.toLowerCase().replace(/^\[|\]$/g, '')))
    this.#anyHost = o.allowedHosts.includes('*')
  }

  /** The cookie's name carries the port: two nodes on one host do not share a session. */
  get cookieName(): string {
    return `meshsync_${this.#port}`
  }

  /** The bound port, once known (api.listen may say 0). */
  set port(p: number) {
    this.#port = p
  }

  /** The API answers beyond this machine: reads need the key too. */
  get beyondLoopback(): boolean {
    return !isLoopbackHost(this.#o.listenHost)
  }

  /** Host header: only names this node is configured to answer to (DNS rebinding gives a foreign one). */
  checkHost(req: IncomingMessage): void {
    if (this.#anyHost) return
    const raw = req.headers.host
    if (raw == null || raw === '') throw new ApiRefusedError('ERR_HOST', 'the request has no Host header', 421)
    const host = hostOf(raw)
    if (!this.#hosts.has(host)) {
      throw new ApiRefusedError(
        'ERR_HOST',
        `Host '${raw}' is not an address of this node (DNS rebinding?); add it to api.allowedHosts if you reach the node by that name`,
        421,
      )
    }
  }

  /** Mutating requests: a JSON body and, when the browser names one, our own Origin. */
  checkMutation(req: IncomingMessage): void {
    const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase()
    if (type !== 'application/json') {
      throw new ApiRefusedError('ERR_CONTENT_TYPE', `${req.method} ${pathOf(req)} accepts only Content-Type: application/json, got '${type || 'none'}'`, 415)
    }
    const origin = req.headers.origin
    if (origin != null && origin !== '') {
      let o: URL
      try {
        o = new URL(origin)
      } catch {
        throw new ApiRefusedError('ERR_ORIGIN', `Origin '${origin}' is not a URL`, 403)
      }
      const scheme = this.#o.tls ? 'https:' : 'http:'
      if (o.protocol !== scheme || o.host.toLowerCase() !== String(req.headers.host ?? '').toLowerCase() || !this.#hostAllowed(o.hostname)) {
        throw new ApiRefusedError('ERR_ORIGIN', `cross-origin request from '${origin}' refused: only pages served by this node may change it`, 403)
      }
    } else if (req.headers['sec-fetch-site'] === 'cross-site') {
      throw new ApiRefusedError('ERR_ORIGIN', 'cross-site request refused: only pages served by this node may change it', 403)
    }
  }

  #hostAllowed(h: string): boolean {
    return this.#anyHost || this.#hosts.has(h.toLowerCase().replace(/^\[|\]$/g, ''))
  }

  /** Who is calling: the key, a session, or nobody. A wrong key is refused here. */
  caller(req: IncomingMessage): Caller {
    const given = keyOf(req)
    if (given != null) {
      if (!this.keyMatches(given)) throw new ApiRefusedError('ERR_BAD_KEY', 'wrong API key (it is in DATA_DIR/.meshsync/api.key on the node)', 401)
      return { via: 'key' }
    }
    const sid = cookieOf(req, this.cookieName)
    if (sid != null) {
      const s = this.#sessions.get(sid)
      if (s != null && s.expiresAt > this.#o.clock.now()) return { via: 'session', csrf: s.csrf }
      if (s != null) this.#sessions.delete(sid)
    }
    return { via: 'none' }
  }

  /** Refuses a caller without the key (and a cookie session's mutation without its CSRF token). */
  requireAuth(req: IncomingMessage, c: Caller, mutating: boolean): void {
    if (c.via === 'none') {
      throw new ApiRefusedError(
        'ERR_NO_KEY',
        `${req.method} ${pathOf(req)} needs the API key: pass --api-key or MESHSYNC_API_KEY, send Authorization: Bearer KEY, or log in to the dashboard`,
        401,
      )
    }
    if (c.via === 'session' && mutating) {
      const t = req.headers['x-csrf-token']
      if (typeof t !== 'string' || !safeEqual(t, c.csrf)) throw new ApiRefusedError('ERR_CSRF', 'missing or wrong X-CSRF-Token for this dashboard session (reload the page)', 403)
    }
  }

  keyMatches(given: string): boolean {
    return timingSafeEqual(digest(given), this.#keyDigest)
  }

  /** Login with the key from `addr`: at most maxFailedLogins failures a minute. */
  login(addr: string, key: string): { sid: string; csrf: string } {
    const now = this.#o.clock.now()
    const recent = (this.#failures.get(addr) ?? []).filter((t) => t > now - MINUTE)
    const max = this.#o.maxFailedLogins ?? 5
    if (recent.length >= max) {
      throw new ApiRefusedError('ERR_RATE_LIMITED', `too many failed logins from ${addr}; wait a minute`, 429, { 'retry-after': '60' })
    }
    if (!this.keyMatches(key)) {
      recent.push(now)
      this.#failures.set(addr, recent)
      // bounded: addresses whose failures are all older than the window are forgotten
      if (this.#failures.size > 10_000) for (const [a, ts] of this.#failures) if (ts.every((t) => t <= now - MINUTE)) this.#failures.delete(a)
      throw new ApiRefusedError('ERR_BAD_KEY', 'wrong API key', 401)
    }
    this.#failures.delete(addr)
    return this.#newSession()
  }

  /** A token for `meshsync dashboard`'s URL: used once, within two minutes. */
  oneTimeToken(): string {
    const t = randomBytes(24).toString('base64url')
    this.#oneTime.set(t, this.#o.clock.now() + 2 * MINUTE)
    return t
  }

  exchange(token: string): { sid: string; csrf: string } {
    const exp = this.#oneTime.get(token)
    this.#oneTime.delete(token)
    if (exp == null || exp < this.#o.clock.now()) throw new ApiRefusedError('ERR_BAD_TOKEN', 'this dashboard link was used already or has expired; run `meshsync dashboard` again', 401)
    return this.#newSession()
  }

  logout(req: IncomingMessage): void {
    const sid = cookieOf(req, this.cookieName)
    if (sid != null) this.#sessions.delete(sid)
  }

  sessionCookie(sid: string): string {
    return `${this.cookieName}=${sid}; Path=/; HttpOnly; SameSite=Strict${this.#o.tls ? '; Secure' : ''}`
  }

  #newSession(): { sid: string; csrf: string } {
    const sid = randomBytes(24).toString('base64url')
    const csrf = randomBytes(24).toString('base64url')
    this.#sessions.set(sid, { csrf, expiresAt: this.#o.clock.now() + (this.#o.sessionTtlMs ?? 24 * 3600_000) })
    return { sid, csrf }
  }
}

function safeEqual(a: string, b: string): boolean {
  return timingSafeEqual(digest(a), digest(b))
}

function pathOf(req: IncomingMessage): string {
  return (req.url ?? '/').split('?')[0]!
}

/** The host part of a Host header value, lower case, without port or brackets. */
export function hostOf(raw: string): string {
  const v = raw.trim().toLowerCase()
  if (v.startsWith('[')) return v.slice(1, v.indexOf(']'))
  const i = v.lastIndexOf(':')
  return i >= 0 && v.indexOf(':') === i ? v.slice(0, i) : v
}

function keyOf(req: IncomingMessage): string | undefined {
  const auth = req.headers.authorization
  if (typeof auth === 'string' && auth.toLowerCase().startsWith('bearer ')) return auth.slice(7).trim()
  const k = req.headers['x-api-key']
  return typeof k === 'string' && k !== '' ? k : undefined
}

function cookieOf(req: IncomingMessage, name: string): string | undefined {
  const c = req.headers.cookie
  if (c == null) return undefined
  for (const part of c.split(';')) {
    const i = part.indexOf('=')
    if (i > 0 && part.slice(0, i).trim() === name) return part.slice(i + 1).trim()
  }
  return undefined
}
