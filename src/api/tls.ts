import { execFile } from 'node:child_process'
import { X509Certificate } from 'node:crypto'
import { existsSync } from 'node:fs'
import { chmod, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import type { Config } from '../config/schema.js'
import { ConfigError } from '../util/errors.js'
import { isLoopbackHost } from './key.js'

export interface ApiTls {
  cert: string
  key: string
  /** SHA-256 fingerprint of the certificate, as browsers show it. */
  fingerprint: string
  selfSigned: boolean
}

/**
 * The API's TLS material, or undefined for plain HTTP. Listening beyond
 * loopback without TLS is refused unless api.insecure says so.
 */
export async function apiTls(api: Config['api'], stateDir: string, opts: { signal?: AbortSignal } = {}): Promise<ApiTls | undefined> {
  const host = api.listen.slice(0, api.listen.lastIndexOf(':'))
  const { cert, key, selfSigned } = api.tls
  if ((cert == null) !== (key == null)) throw new ConfigError('api.tls', 'give both api.tls.cert and api.tls.key (PEM files), or neither')
  if (cert != null && key != null) {
    const pem = await readFile(cert, 'utf8')
    return { cert: pem, key: await readFile(key, 'utf8'), fingerprint: new X509Certificate(pem).fingerprint256, selfSigned: false }
  }
  if (selfSigned) return selfSignedTls(stateDir, opts)
  if (!isLoopbackHost(host) && !api.insecure) {
    throw new ConfigError(
      'api.listen',
      `${api.listen} is beyond loopback, so the API needs TLS: set api.tls.cert and api.tls.key, or api.tls.selfSigned: true (a certificate is made at first start), or api.insecure: true to serve plain HTTP anyway`,
    )
  }
  return undefined
}

/** A self-signed certificate in the state dir, made with openssl at first start. */
async function selfSignedTls(stateDir: string, opts: { signal?: AbortSignal }): Promise<ApiTls> {
  const certFile = join(stateDir, 'api-cert.pem')
  const keyFile = join(stateDir, 'api-key.pem')
  if (!existsSync(certFile) || !existsSync(keyFile)) {
    try {
      await promisify(execFile)(
        'openssl',
        ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '3650', '-subj', '/CN=meshsync', '-keyout', keyFile, '-out', certFile],
        { signal: opts.signal, timeout: 30_000 },
      )
    } catch (err) {
      throw new ConfigError('api.tls.selfSigned', `could not make a self-signed certificate with openssl (${(err as Error).message}); install openssl or give api.tls.cert and api.tls.key`)
    }
    await chmod(keyFile, 0o600)
  }
  const pem = await readFile(certFile, 'utf8')
  return { cert: pem, key: await readFile(keyFile, 'utf8'), fingerprint: new X509Certificate(pem).fingerprint256, selfSigned: true }
}
