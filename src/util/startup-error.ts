import { MeshsyncError } from './errors.js'

/**
 * The node could not start: an address in use, a data dir that is missing or
 * not a folder. The message is one line that names the thing and the key that
 * sets it; the CLI prints it as is and exits non-zero.
 */
export class StartupError extends MeshsyncError {
  /** The config key that sets what failed (api.listen, listen, dataDir). */
  readonly key: string
  constructor(key: string, message: string, options?: ErrorOptions) {
    super('ERR_STARTUP', message, options)
    this.key = key
  }
}

/** ` (from SOURCE)` when the key was set somewhere, else ` (the default)`. */
export function fromSource(source: string | undefined): string {
  return source != null ? ` (from ${source})` : ' (the default)'
}

/** Why an address could not be listened on, from the errno code in `text` (EADDRINUSE, EADDRNOTAVAIL, EACCES); undefined for any other cause. */
export function listenReason(text: string): string | undefined {
  if (/EADDRINUSE/.test(text)) return 'is in use'
  if (/EADDRNOTAVAIL/.test(text)) return 'is not an address of this host'
  if (/EACCES/.test(text)) return 'needs a privilege this user lacks'
  return undefined
}

/**
 * libp2p's UnsupportedListenAddressesError lists every address it could not
 * listen on, one `  ADDR: Error: listen EADDRINUSE ...` line each. Turns it
 * into one line naming the addresses and the `listen` key; undefined for any
 * other error.
 */
export function explainListenError(err: unknown, source: string | undefined): StartupError | undefined {
  const e = err as { name?: string; message?: string }
  if (e?.name !== 'UnsupportedListenAddressesError' || typeof e.message !== 'string') return undefined
  const failed: string[] = []
  for (const m of e.message.matchAll(/^\s*(\/[^\s:]+): (?:\w*Error: )?(.*)$/gm)) {
    const [, addr, why] = m
    const reason = listenReason(why!) ?? `failed: ${why!.trim()}`
    failed.push(`${addr} ${reason}`)
  }
  const what = failed.length > 0 ? failed.join('; ') : 'a listen address could not be opened'
  return new StartupError('listen', `listen ${what}${fromSource(source)}; set listen or --listen (port 0 picks a free one)`, { cause: err })
}
