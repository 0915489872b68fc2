import { MeshsyncError } from '../util/errors.js'

/** Talks to a running node's local HTTP API. */
export class ApiClient {
  readonly base: string

  constructor(hostPort: string) {
    this.base = `http://${hostPort}`
  }

  async get<T>(path: string, signal?: AbortSignal): Promise<T> {
    return this.#request<T>('GET', path, undefined, signal)
  }

  async post<T>(path: string, body: unknown, signal?: AbortSignal): Promise<T> {
    return this.#request<T>('POST', path, body, signal)
  }

  /** Opens the server-sent event stream. */
  async stream(path: string, signal?: AbortSignal): Promise<Response> {
    try {
      return await fetch(`${this.base}${path}`, { signal, headers: { accept: 'text/event-stream' } })
    } catch (err) {
      throw this.#unreachable(err)
    }
  }

  async #request<T>(method: string, path: string, body: unknown, signal?: AbortSignal): Promise<T> {
    let res: Response
    try {
      res = await fetch(`${this.base}${path}`, {
        method,
        signal,
        headers: body != null ? { 'content-type': 'application/json' } : undefined,
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
      const e = (json as { error?: { code?: string; message?: string } })?.error
      throw new MeshsyncError(e?.code ?? 'ERR_API', e?.message ?? `${method} ${path}: HTTP ${res.status}`)
    }
    return json as T
  }

  #unreachable(err: unknown): Error {
    if ((err as Error).name === 'AbortError') return err as Error
    return new MeshsyncError('ERR_API_UNREACHABLE', `no meshsync node answers at ${this.base} (is it running? pass --api HOST:PORT or set MESHSYNC_API)`)
  }
}
