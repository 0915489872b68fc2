// npm run release [-- --out DIR] [-- --no-deb]
// Builds, from this checkout, the artifacts an operator copies to air-gapped hosts:
//   meshsync-<version>-linux-x64.tar.gz   self-contained: Node.js runtime, compiled code, production deps
//   meshsync_<version>_amd64.deb          the same tree under /opt/meshsync, plus user, unit and folders
// and a .sha256 beside each. Default output: dist-release/ (gitignored).
import { createHash } from 'node:crypto'
import { execFileSync } from 'node:child_process'
import { mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { basename, dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { buildDeb, debVersion } from './deb.mjs'
import { buildStage, mb, sourceInfo } from './stage.mjs'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..')
const args = process.argv.slice(2)
const outArg = args.indexOf('--out')
const outDir = resolve(outArg >= 0 ? args[outArg + 1] : (process.env.MESHSYNC_RELEASE_OUT ?? join(root, 'dist-release')))
const withDeb = !args.includes('--no-deb')
// gzip level of both artifacts (9; the tests use 1 to save minutes of CPU)
const gzipLevel = Number(process.env.MESHSYNC_RELEASE_GZIP ?? 9)
if (!Number.isInteger(gzipLevel) || gzipLevel < 1 || gzipLevel > 9) throw new Error(`MESHSYNC_RELEASE_GZIP must be 1..9, got ${process.env.MESHSYNC_RELEASE_GZIP}`)
const log = (m) => process.stderr.write(`release: ${m}\n`)

const started = Date.now()
const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'))
const { commit, epoch } = sourceInfo(root)
const name = `meshsync-${version}-linux-x64`
mkdirSync(outDir, { recursive: true })
const stageDir = join(outDir, name)
log(`meshsync ${version}, commit ${commit}, into ${outDir}`)
const staged = buildStage({ root, stageDir, commit, log })

const tarball = join(outDir, `${name}.tar.gz`)
rmSync(tarball, { force: true })
// reproducible: sorted names, root-owned, mtimes of the commit, gzip without a timestamp
execFileSync('tar', ['--sort=name', '--owner=0', '--group=0', '--numeric-owner', `--mtime=@${epoch}`, `--use-compress-program=gzip -${gzipLevel}n`, '-C', outDir, '-cf', tarball, name], { stdio: 'inherit' })
const artifacts = [tarball]
if (withDeb) {
  const deb = join(outDir, `meshsync_${debVersion(version)}_amd64.deb`)
  rmSync(deb, { force: true })
  artifacts.push(buildDeb({ root, stageDir, workDir: outDir, outFile: deb, version, commit, epoch, gzipLevel }))
}
const summary = { version, commit, node: staged.node, unpacked: staged.sizes, artifacts: {} }
for (const f of artifacts) {
  const sha = createHash('sha256').update(readFileSync(f)).digest('hex')
  writeFileSync(`${f}.sha256`, `${sha}  ${basename(f)}\n`)
  summary.artifacts[basename(f)] = { bytes: statSync(f).size, sha256: sha }
  log(`${basename(f)}: ${mb(statSync(f).size)}`)
}
log(`unpacked ${mb(staged.sizes.total)} (runtime ${mb(staged.sizes.runtime)}, node_modules ${mb(staged.sizes.nodeModules)}); ${((Date.now() - started) / 1000).toFixed(0)} s`)
writeFileSync(join(outDir, 'release.json'), `${JSON.stringify(summary, null, 2)}\n`)
process.stdout.write(`${artifacts.join('\n')}\n`)
