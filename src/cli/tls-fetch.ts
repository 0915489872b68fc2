import { X509Certificate } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { request } from 'node:https'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { STATE_DIR_NAME } from '../node/layout.js'

/**
 * The fingerprint of a local node's self-signed API certificate
 * (DATA_DIR/.meshsync/api-cert.pem), or undefined when it has none.
 */
export function localCertFingerprint(dataDir: string): string | undefined {
  try {
    return new X509Certificate(readFileSync(join(dataDir, STATE_DIR_NAME, 'api-cert.pem'))).fingerprint256
  } catch {
    return undefined
  }
}

/**
 * fetch over HTTPS with node:https, so a node's self-signed certificate can be
 * trusted by its pinned fingerprint (read from the node's own data dir on this
 * host); without a pin the system's CAs decide.
 */
export function httpsFetch(url: string, init: { method?: string; headers?: Record<string, string>; body?: string; signal?: AbortSignal; pin?: string }): Promise<Response> {
  return new Promise((resolve, reject) => {
    const pin = init.pin
    const req = request(
      url,
      {
        method: init.method ?? 'GET',
        headers: init.headers,
        signal: init.signal,
        ...(pin != null
          ? {
              rejectUnauthorized: false,
              checkServerIdentity: () => undefined,
            }
          : {}),
      },
      (res) => {
        if (pin != null) {
          const got = (res.socket as { getPeerCertificate?: () => { fingerprint256?: string } }).getPeerCertificate?.().fingerprint256
          if (got !== pin) {
            res.destroy()
            reject(new Error(`the node's TLS certificate (${got ?? 'none'}) is not the one in its data dir (${pin})`))
            return
          }
        }
        const headers = new Headers()
        for (const [k, v] of Object.entries(res.headers)) if (v != null) headers.set(k, Array.isArray(v) ? v.join(', ') : v)
        resolve(new Response(Readable.toWeb(res) as ReadableStream, { status: res.statusCode ?? 0, headers }))
      },
    )
    req.on('error', reject)
    req.end(init.body)
  })
}
