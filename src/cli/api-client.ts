import { findRunningNode } from '../api/key.js'
import { MeshsyncError } from '../util/errors.js'
import { httpsFetch, localCertFingerprint } from './tls-fetch.js'

/**
 * Talks to a running node's local HTTP API. The key: the one given
 * (--api-key, MESHSYNC_API_KEY, the config's data dir), else the per-user
 * registry's entry for a node on this host at that address.
 */
export class ApiClient {
  readonly base: string
  readonly #key: string | undefined
  /** SHA-256 of a local node's self-signed certificate, trusted instead of a CA. */
  readonly #pin: string | undefined

  /** `hostPort` may start with https:// (a node elsewhere with a CA-signed certificate). */
  constructor(hostPort: string, key?: string) {
    const explicit = /^https?:\/\//.exec(hostPort)?.[0]
    const bare = explicit != null ? hostPort.slice(explicit.length).replace(/\/$/, '') : hostPort
    const local = findRunningNode(bare)
    const scheme = explicit != null ? explicit.slice(0, -3) : (local?.scheme ?? 'http')
    this.base = `${scheme}://${bare}`
    this.#key = key ?? local?.key
    this.#pin = scheme === 'https' && local != null ? localCertFingerprint(local.dataDir) : undefined
  }

  #fetch(path: string, init: { method?: string; headers: Record<string, string>; body?: string; signal?: AbortSignal }): Promise<Response> {
    const url = `${this.base}${path}`
    return url.startsWith('https:') ? httpsFetch(url, { ...init, pin: this.#pin }) : fetch(url, init)
  }

  #headers(json: boolean): Record<string, string> {
    const h: Record<string, string> = {}
    if (this.#key != null) h.authorization = `Bearer ${this.#key}`
    if (json) h['content-type'] = 'application/json'
    return h
  }

  async get<T>(path: string, signal?: AbortSignal): Promise<T> {
    return this.#request<T>('GET', path, undefined, signal)
  }

  /** GET that answers the JSON whatever the status (for routes whose status is the verdict, e.g. /health/cluster). */
  async getAny<T>(path: string, signal?: AbortSignal): Promise<{ status: number; body: T }> {
    let res: Response
    try {
      res = await this.#fetch(path, { signal, headers: this.#headers(false) })
    } catch (err) {
      throw this.#unreachable(err)
    }
    const body = (await res.json().catch(() => null)) as T & { error?: string; code?: string }
    if (res.status !== 200 && res.status !== 503) throw new MeshsyncError(body?.code ?? 'ERR_API', body?.error ?? `GET ${path}: HTTP ${res.status}`)
    return { status: res.status, body }
  }

  async post<T>(path: string, body: unknown, signal?: AbortSignal): Promise<T> {
    return this.#request<T>('POST', path, body, signal)
  }

  /** Opens the server-sent event stream. */
  async stream(path: string, signal?: AbortSignal): Promise<Response> {
    try {
      return await this.#fetch(path, { signal, headers: { ...this.#headers(false), accept: 'text/event-stream' } })
    } catch (err) {
      throw this.#unreachable(err)
    }
  }

  async #request<T>(method: string, path: string, body: unknown, signal?: AbortSignal): Promise<T> {
    let res: Response
    try {
      res = await this.#fetch(path, {
        method,
        signal,
        headers: this.#headers(body != null),
        body: body != null ? JSON.stringify(body) : undefined,
      })
    } catch (err) {
      throw this.#unreachable(err)
    }
    const text = await res.text()
    let json: unknown
    try {
      json = text === '' ? null : JSON.parse(text)
    } catch {
      throw new MeshsyncError('ERR_API', `${method} ${path}: the node answered ${res.status} with something that is not JSON`)
    }
    if (!res.ok) {
      const e = json as { error?: string; code?: string } | null
      throw new MeshsyncError(e?.code ?? 'ERR_API', typeof e?.error === 'string' ? e.error : `${method} ${path}: HTTP ${res.status}`)
    }
    return json as T
  }

  #unreachable(err: unknown): Error {
    if ((err as Error).name === 'AbortError') return err as Error
    if (/TLS certificate/.test((err as Error).message)) return new MeshsyncError('ERR_TLS', `${this.base}: ${(err as Error).message}`)
    return new MeshsyncError('ERR_API_UNREACHABLE', `no meshsync node answers at ${this.base} (is it running? pass --api HOST:PORT or set MESHSYNC_API)`)
  }
}
