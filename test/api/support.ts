import { request as httpRequest } from 'node:http'
import { request as httpsRequest } from 'node:https'

export interface HttpAnswer {
  status: number
  headers: Record<string, string | string[] | undefined>
  text: string
  json: () => { error?: string; code?: string } & Record<string, unknown>
}

/** A raw HTTP request (node:http, so Host and Origin can be anything a browser or attacker would send). */
export function http(
  address: string,
  method: string,
  path: string,
  opts: { headers?: Record<string, string>; body?: string | Buffer; tls?: { ca: string } } = {},
): Promise<HttpAnswer> {
  const i = address.lastIndexOf(':')
  return new Promise((resolve, reject) => {
    const request = opts.tls != null ? httpsRequest : httpRequest
    const req = request(
      { host: address.slice(0, i), port: Number(address.slice(i + 1)), method, path, headers: opts.headers, ca: opts.tls?.ca, servername: opts.tls != null ? 'meshsync' : undefined, checkServerIdentity: () => undefined },
      (res) => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8')
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json: () => JSON.parse(text) })
        })
      },
    )
    req.on('error', reject)
    req.end(opts.body)
  })
}

/** The compiled CLI (bin/meshsync; build first). */
export { meshsync, type Run } from '../transfer/support.js'
