import { createConnection, createServer, type Server, type Socket } from 'node:net'

/**
 * A small userspace TCP proxy that delays every chunk by `delayMs` in each
 * direction: latency for the links of one node where a scenario wants it
 * (the kernel's netem is not used). Order is kept; throughput is not capped.
 */
export class LatencyProxy {
  readonly #server: Server
  readonly #sockets: Set<Socket>
  port = 0

  private constructor(server: Server, sockets: Set<Socket>) {
    this.#server = server
    this.#sockets = sockets
  }

  static async start(o: { host: string; port?: number; target: { host: string; port: number }; delayMs: number }): Promise<LatencyProxy> {
    const sockets = new Set<Socket>()
    const server = createServer((client) => {
      const upstream = createConnection(o.target)
      sockets.add(client).add(upstream)
      pipeDelayed(client, upstream, o.delayMs)
      pipeDelayed(upstream, client, o.delayMs)
      const done = () => {
        client.destroy()
        upstream.destroy()
        sockets.delete(client)
        sockets.delete(upstream)
      }
      client.on('error', done).on('close', done)
      upstream.on('error', done).on('close', done)
    })
    const p = new LatencyProxy(server, sockets)
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(o.port ?? 0, o.host, () => resolve())
    })
    const a = server.address()
    p.port = typeof a === 'object' && a != null ? a.port : 0
    return p
  }

  async close(): Promise<void> {
    for (const s of this.#sockets) s.destroy()
    await new Promise<void>((resolve) => this.#server.close(() => resolve()))
  }
}

function pipeDelayed(from: Socket, to: Socket, delayMs: number): void {
  // each chunk leaves delayMs after it arrived; back-pressure pauses the source
  let queued = 0
  from.on('data', (chunk: Buffer) => {
    queued += chunk.length
    if (queued > 8 * 1024 * 1024) from.pause()
    setTimeout(() => {
      queued -= chunk.length
      if (!to.destroyed) {
        const ok = to.write(chunk)
        if (!ok) {
          from.pause()
          to.once('drain', () => from.resume())
        } else if (queued <= 8 * 1024 * 1024 && from.isPaused()) from.resume()
      }
    }, delayMs)
  })
  from.on('end', () => setTimeout(() => to.end(), delayMs))
}
