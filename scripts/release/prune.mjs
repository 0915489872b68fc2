// Removes from a production node_modules what a running node never loads:
// documentation, TypeScript sources and declarations, source maps, test and
// example folders, better-sqlite3's C sources, and prebuilds for other platforms.
// Licence files stay.
import { lstatSync, readdirSync, rmSync } from 'node:fs'
import { join } from 'node:path'

const DROP_FILE = [/\.md$/i, /\.markdown$/i, /\.map$/, /\.d\.[cm]?ts$/, /\.[cm]?ts$/, /^tsconfig.*\.json$/, /^\.(npmignore|eslintrc.*|prettierrc.*|editorconfig|travis\.yml)$/]
const KEEP_FILE = [/^licen[cs]e/i, /^copying/i, /^notice/i]
/** Folders dropped when found directly in a package (not deeper, where a name like "test" may be code). */
const DROP_DIR_AT_PACKAGE_ROOT = new Set(['test', 'tests', '__tests__', 'example', 'examples', 'benchmark', 'benchmarks', 'docs', 'doc', '.github', 'coverage'])

/** @returns {number} bytes removed */
export function pruneNodeModules(nodeModules) {
  let removed = 0
  const drop = (p) => {
    removed += sizeOf(p)
    rmSync(p, { recursive: true, force: true })
  }
  const walk = (dir, packageRoot) => {
    for (const name of readdirSync(dir)) {
      const p = join(dir, name)
      const st = lstatSync(p)
      if (st.isSymbolicLink()) continue
      if (st.isDirectory()) {
        if (name === 'node_modules') walkModules(p)
        else if (name === 'prebuilds') {
          // native prebuilds for other platforms (optional addons of webtorrent's dependencies)
          for (const f of readdirSync(p)) if (!f.startsWith('linux-x64')) drop(join(p, f))
        }
        else if (packageRoot && DROP_DIR_AT_PACKAGE_ROOT.has(name)) drop(p)
        else walk(p, false)
      } else if (!KEEP_FILE.some((r) => r.test(name)) && DROP_FILE.some((r) => r.test(name))) {
        drop(p)
      }
    }
  }
  const walkModules = (dir) => {
    for (const name of readdirSync(dir)) {
      const p = join(dir, name)
      if (name === '.bin' || name === '.package-lock.json') continue
      if (name.startsWith('@')) {
        for (const sub of readdirSync(p)) walk(join(p, sub), true)
      } else if (lstatSync(p).isDirectory()) {
        walk(p, true)
      }
    }
  }
  // better-sqlite3: the prebuilt Node-API addon for linux-x64 is all it loads
  const bs = join(nodeModules, 'better-sqlite3')
  for (const sub of ['deps', 'src', 'binding.gyp', 'build']) drop(join(bs, sub))
  walkModules(nodeModules)
  return removed
}

export function sizeOf(p) {
  let st
  try {
    st = lstatSync(p)
  } catch {
    return 0
  }
  if (!st.isDirectory()) return st.size
  let n = 0
  for (const name of readdirSync(p)) n += sizeOf(join(p, name))
  return n
}
