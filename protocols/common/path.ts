/**
 * The rule for every relative path on the wire (manifests, anti-entropy):
 * '/'-separated, not absolute, no empty, '.' or '..' parts, no NUL, control
 * character or backslash, no drive letter, at most 1024 bytes and 64 parts,
 * and nothing inside meshsync's own `.meshsync` folder.
 */
export const MAX_PATH_BYTES = 1024
export const MAX_PATH_PARTS = 64

/** The reason a path is unsafe, or undefined when it is fine. */
export function relativePathProblem(path: string): string | undefined {
  if (typeof path !== 'string' || path.length === 0) return 'empty path'
  if (Buffer.byteLength(path) > MAX_PATH_BYTES) return `path longer than ${MAX_PATH_BYTES} bytes`
  if (path.startsWith('/')) return 'absolute path'
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are exactly what is refused
  if (/[\u0000-\u001f\u007f\\]/.test(path)) return 'NUL, control character or backslash in path'
  if (/^[A-Za-z]:/.test(path)) return 'drive-letter path'
  const parts = path.split('/')
  if (parts.length > MAX_PATH_PARTS) return `more than ${MAX_PATH_PARTS} path parts`
  for (const p of parts) {
    if (p === '') return 'empty path part'
    if (p === '.' || p === '..') return `'${p}' in path`
  }
  if (parts[0] === '.meshsync') return "path inside meshsync's own folder"
  return undefined
}
