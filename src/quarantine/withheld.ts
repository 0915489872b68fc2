import { existsSync } from 'node:fs'
import { join } from 'node:path'
import type { LocalManifest } from '../catalog/local-manifest.js'
import type { Kind } from '../config/schema.js'
import type { Unplaceable } from '../replication/evacuation.js'
import type { EventLog } from '../state/event-log.js'
import type { Logger } from '../util/log.js'
import { validateFile } from '../validate/index.js'
import type { Quarantine, QuarantineRecord } from './quarantine.js'

/** What `quarantine release` did: the record, and whether the file will be announced. */
export interface ReleaseResult extends QuarantineRecord {
  /** False: it still fails validation, so every receiver would reject it; it stays here, unannounced. */
  announced: boolean
  /** Why it is not announced (the validator's reason). */
  invalid?: string
}

/**
 * Files an operator released from quarantine that still fail kind
 * validation. Receivers validate every download, so announcing one only has
 * every receiver pull it and quarantine it again (and an evacuation wait for
 * a copy nobody accepts). Such a file stays in the data dir, where the
 * operator put it, but is not announced until its content changes (the
 * released mark is keyed by SHA-256; the scanner retries a path when its
 * size, mtime or inode change). Evacuation names them as unplaceable.
 */
export class WithheldFiles {
  readonly #init: { dataDir: string; manifest: LocalManifest; events: EventLog; log: Logger }
  readonly #files = new Map<string, { sha256: string; reason: string }>()

  constructor(init: { dataDir: string; manifest: LocalManifest; events: EventLog; log: Logger }) {
    this.#init = init
  }

  /** The scanner found released content `rel` invalid: keep it in place, unannounced. */
  hold(rel: string, sha256: string, kind: Kind, reason: string): void {
    const known = this.#files.get(rel)
    this.#files.set(rel, { sha256, reason })
    if (known?.sha256 === sha256) return
    this.#init.log.warn({ path: rel, sha256, kind, reason }, 'released from quarantine but still invalid: receivers would reject it, so it is kept here and not announced until it changes')
    this.#init.events.emit('file_withheld', { path: rel, sha256, kind, reason })
  }

  /** Withheld files still on disk and still not announced. */
  list(): Unplaceable[] {
    const out: Unplaceable[] = []
    for (const [path, f] of this.#files) {
      if (this.#init.manifest.get(path)?.sha256 === f.sha256 || !existsSync(join(this.#init.dataDir, path))) {
        this.#files.delete(path)
        continue
      }
      out.push({ path, sha256: f.sha256, reason: `released from quarantine but fails validation, so no receiver accepts it: ${f.reason}` })
    }
    return out
  }
}

/**
 * `quarantine release`: puts the file back, then validates it as its kind
 * (what every receiver will do) and says whether it will be announced.
 */
export async function releaseChecked(quarantine: Quarantine, dataDir: string, id: string, signal?: AbortSignal): Promise<ReleaseResult> {
  const rec = await quarantine.release(id)
  const verdict = await validateFile(join(dataDir, rec.path), rec.kind as Kind, { depth: 'deep', signal })
  return verdict.ok ? { ...rec, announced: true } : { ...rec, announced: false, invalid: verdict.reason }
}
