// Writes <dir>/build-info.json ({ version, commit }) so `meshsync --version` and
// health name the commit of a development build too (npm run build runs this).
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { sourceInfo } from './stage.mjs'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..')
const dir = resolve(process.argv[2] ?? join(root, 'dist'))
const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'))
mkdirSync(dir, { recursive: true })
writeFileSync(join(dir, 'build-info.json'), `${JSON.stringify({ version, commit: sourceInfo(root).commit }, null, 2)}\n`)
