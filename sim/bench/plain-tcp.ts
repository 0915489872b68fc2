import { createHash } from 'node:crypto'
import { constants } from 'node:fs'
import { open } from 'node:fs/promises'
import { createServer, connect } from 'node:net'

/**
 * The unencrypted ceiling: one file over plain node:net TCP, the receiver
 * hashing (SHA-256) and writing it, then fsync. Run as two processes:
 *   node plain-tcp.js recv OUT_FILE   -> prints {"port":N} then, when done, a JSON result
 *   node plain-tcp.js send FILE PORT
 */
async function recv(out: string): Promise<void> {
  const fh = await open(out, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC, 0o644)
  const hash = createHash('sha256')
  let offset = 0
  let started = 0
  let pending: Buffer[] = []
  let pendingBytes = 0
  let inflight = 0
  let writing = Promise.resolve()
  const server = createServer((socket) => {
    started = performance.now()
    // batch into 1 MiB writes; pause the socket while more than 8 MiB wait for the disk
    const flush = (): void => {
      if (pendingBytes === 0) return
      const buf = Buffer.concat(pending, pendingBytes)
      const at = offset
      offset += buf.byteLength
      pending = []
      pendingBytes = 0
      inflight += buf.byteLength
      if (inflight > 8 * 1024 * 1024) socket.pause()
      writing = writing.then(async () => {
        await fh.write(buf, 0, buf.byteLength, at)
        inflight -= buf.byteLength
        if (inflight <= 4 * 1024 * 1024) socket.resume()
      })
    }
    socket.on('data', (buf) => {
      hash.update(buf)
      pending.push(buf)
      pendingBytes += buf.byteLength
      if (pendingBytes >= 1024 * 1024) flush()
    })
    socket.on('end', async () => {
      flush()
      await writing
      await fh.sync()
      await fh.close()
      const seconds = (performance.now() - started) / 1000
      process.stdout.write(`${JSON.stringify({ bytes: offset, seconds, sha256: hash.digest('hex') })}\n`)
      server.close()
    })
  })
  server.listen(0, '127.0.0.1', () => {
    const addr = server.address()
    process.stdout.write(`${JSON.stringify({ port: typeof addr === 'object' && addr != null ? addr.port : 0 })}\n`)
  })
}

async function send(file: string, port: number): Promise<void> {
  const fh = await open(file, 'r')
  const socket = connect(port, '127.0.0.1')
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()))
  const size = (await fh.stat()).size
  let offset = 0
  while (offset < size) {
    const buf = Buffer.allocUnsafe(Math.min(1024 * 1024, size - offset))
    const { bytesRead } = await fh.read(buf, 0, buf.byteLength, offset)
    offset += bytesRead
    if (!socket.write(buf.subarray(0, bytesRead))) await new Promise<void>((r) => socket.once('drain', () => r()))
  }
  socket.end()
  await fh.close()
}

const [mode, a, b] = process.argv.slice(2)
if (mode === 'recv' && a != null) await recv(a)
else if (mode === 'send' && a != null && b != null) await send(a, Number(b))
