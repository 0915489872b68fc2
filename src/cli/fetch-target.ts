import type { FileJson } from '../node/read-models.js'
import { MeshsyncError, NotFoundError } from '../util/errors.js'
import type { ApiClient } from './api-client.js'

/** The shortest SHA-256 prefix `fetch` accepts (`files` prints 12 digits). */
export const MIN_PREFIX = 8

function listed(files: FileJson[]): string {
  const shown = files.slice(0, 10).map((f) => `${f.sha256.slice(0, 16)} ${f.path}`)
  return `${shown.join(', ')}${files.length > 10 ? `, and ${files.length - 10} more` : ''}`
}

/**
 * The full SHA-256 that `fetch` means: a whole hash, a unique prefix of at
 * least 8 hex digits (either case), or a path (`--path`), resolved against
 * the files the node knows (GET /files). Ambiguity names the candidates.
 */
export async function resolveFetchTarget(api: ApiClient, arg: string | undefined, path: string | undefined): Promise<string> {
  if (arg != null && path != null) throw new MeshsyncError('ERR_INVALID_REQUEST', `give a SHA-256 or --path, not both ('${arg}' and --path ${path})`)
  if (path != null) {
    const files = await api.get<FileJson[]>('/files')
    const hits = files.filter((f) => f.path === path)
    if (hits.length === 1) return hits[0]!.sha256
    if (hits.length > 1) throw new MeshsyncError('ERR_AMBIGUOUS', `${path}: ${hits.length} different files have this path; fetch one by SHA-256: ${listed(hits)}`)
    const base = path.split('/').at(-1) ?? path
    const near = files.filter((f) => f.path.split('/').at(-1) === base)
    throw new NotFoundError(`no known file has the path ${path}${near.length > 0 ? ` (same name elsewhere: ${listed(near)})` : ''}`)
  }
  if (arg == null) throw new MeshsyncError('ERR_INVALID_REQUEST', 'name the file: a SHA-256 (or a unique prefix of it) or --path PATH')
  const hex = arg.toLowerCase()
  if (!/^[0-9a-f]+$/.test(hex) || hex.length > 64) throw new MeshsyncError('ERR_INVALID_REQUEST', `'${arg}' is not a SHA-256 or a prefix of one (hex digits); to fetch by path use --path`)
  if (hex.length === 64) return hex
  if (hex.length < MIN_PREFIX) throw new MeshsyncError('ERR_INVALID_REQUEST', `'${arg}' is too short: give at least ${MIN_PREFIX} hex digits of the SHA-256`)
  const hits = (await api.get<FileJson[]>('/files')).filter((f) => f.sha256.startsWith(hex))
  if (hits.length === 1) return hits[0]!.sha256
  if (hits.length === 0) throw new NotFoundError(`no known file's SHA-256 starts with ${hex}`)
  throw new MeshsyncError('ERR_AMBIGUOUS', `${hex} is the start of ${hits.length} files' SHA-256; give more digits: ${listed(hits)}`)
}
