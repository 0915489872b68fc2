import { randomBytes, createHash } from 'node:crypto'
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { basename, join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildRelease, FAST_FLAGS, has, isRoot, poll, run, startFromBanner, type StartedNode } from './support.js'

/**
 * The artifacts of `npm run release`, built once for this file.
 *
 * The tarball as an operator uses it on an air-gapped host: built by
 * `npm run release`, unpacked into an empty folder, run with a PATH that has no
 * Node at all (only sh, dirname, readlink) and, as root, inside an empty network
 * namespace (loopback only: no registry, no DNS). Two nodes from it move a file.
 */

const NS = `msrel${process.pid}`
let work = ''
let tarball = ''
let deb: string | undefined
let unpacked = ''
let pathDir = ''
let useNs = false
const nodes: StartedNode[] = []

/** The command line, inside the namespace when there is one, with an environment that has no Node. */
function wrapped(args: string[]): string[] {
  const env = ['env', '-i', `PATH=${pathDir}`, `HOME=${work}`, 'LANG=C.UTF-8']
  return useNs ? ['ip', 'netns', 'exec', NS, ...env, ...args] : [...env, ...args]
}
const sys = (cmd: string[]) => run(cmd[0]!, cmd.slice(1))

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'meshsync-release-'))
  const built = await buildRelease(join(work, 'out'), has('dpkg-deb') ? [] : ['--no-deb'])
  tarball = built.tarball
  deb = built.deb
  unpacked = join(work, 'host')
  await mkdir(unpacked)
  const x = await run('tar', ['-xzf', tarball, '-C', unpacked])
  expect(x.code, x.stderr).toBe(0)
  unpacked = join(unpacked, basename(tarball, '.tar.gz'))
  // a PATH with what the launcher needs and nothing else: no node, no npm
  pathDir = join(work, 'path')
  await mkdir(pathDir)
  for (const tool of ['sh', 'dirname', 'readlink']) await symlink(`/bin/${tool}`, join(pathDir, tool))
  if (isRoot && has('ip')) {
    useNs = (await run('ip', ['netns', 'add', NS])).code === 0
    if (useNs) await run('ip', ['netns', 'exec', NS, 'ip', 'link', 'set', 'lo', 'up'])
  }
  if (!useNs) console.warn('tarball test: not root or no ip netns, so the nodes run with no Node on PATH but with the host network')
}, 600_000)

afterAll(async () => {
  for (const n of nodes) n.child.kill('SIGKILL')
  await Promise.all(nodes.map((n) => n.exited))
  if (useNs) await run('ip', ['netns', 'del', NS])
  if (work !== '') await rm(work, { recursive: true, force: true })
})

describe('release tarball', () => {
  it('is named for the version, holds the runtime, the launcher and the bootstrap files, and no dev dependencies', async () => {
    const { version } = JSON.parse(await readFile(join(import.meta.dirname, '..', '..', 'package.json'), 'utf8')) as { version: string }
    expect(tarball.endsWith(`meshsync-${version}-linux-x64.tar.gz`)).toBe(true)
    const list = (await run('tar', ['-tzf', tarball])).stdout.split('\n')
    for (const f of ['bin/meshsync', 'runtime/bin/node', 'app/dist/src/cli/bin.js', 'app/dist/src/api/dashboard/index.html', 'app/dist/src/api/dashboard/app.js', 'app/build-info.json', 'app/node_modules/better-sqlite3/prebuilds/linux-x64.node', 'bootstrap/NEW_HOST.md', 'bootstrap/systemd/meshsync.service', 'bootstrap/templates/cluster.yaml']) {
      expect(list, f).toContain(`meshsync-${version}-linux-x64/${f}`)
    }
    for (const dev of ['vitest', 'typescript', '@biomejs', 'fast-check']) expect(list.some((f) => f.includes(`/node_modules/${dev}/`)), dev).toBe(false)
    expect(list.some((f) => f.endsWith('.map') || f.endsWith('.d.ts'))).toBe(false)
  })

  it('runs with no Node on PATH and no network: --version names the commit and the protocols', async () => {
    expect((await sys(wrapped(['sh', '-c', 'command -v node || command -v nodejs']))).code).not.toBe(0)
    if (useNs) expect((await sys(['ip', 'netns', 'exec', NS, 'ip', '-o', 'link'])).stdout.trim().split('\n')).toHaveLength(1)
    const { commit } = JSON.parse(await readFile(join(unpacked, 'app', 'build-info.json'), 'utf8')) as { commit: string }
    const v = await sys(wrapped([join(unpacked, 'bin', 'meshsync'), '--version']))
    expect(v, v.stderr).toMatchObject({ code: 0 })
    expect(v.stdout).toContain(`(commit ${commit})`)
    expect(commit).toMatch(/^[0-9a-f]{40}(-dirty)?$/)
    expect(v.stdout).toContain('/meshsync/blob/1.0.0')
    expect(v.stdout).toContain('node 24.')
    // through a symlink, as /usr/bin/meshsync of the .deb points at /opt/meshsync/bin/meshsync
    await symlink(join(unpacked, 'bin', 'meshsync'), join(work, 'meshsync-link'))
    const viaLink = await sys(wrapped([join(work, 'meshsync-link'), '--version']))
    expect(viaLink, viaLink.stderr).toMatchObject({ code: 0, stdout: v.stdout })
  })

  it('two nodes from it move a file between them, byte for byte', async () => {
    const bin = join(unpacked, 'bin', 'meshsync')
    const dirA = join(work, 'a')
    const dirB = join(work, 'b')
    await mkdir(dirA)
    await mkdir(dirB)
    const data = randomBytes(2 * 1024 * 1024 + 3)
    const sha = createHash('sha256').update(data).digest('hex')
    await writeFile(join(dirA, 'weights.bin'), data)
    const common = ['--listen', '/ip4/127.0.0.1/tcp/0', '--api', '127.0.0.1:0', ...FAST_FLAGS, '--set', 'catalog.validateLocal=false']
    const a = await startFromBanner(wrapped([bin, 'start', '--name', 'rel-a', '--data-dir', dirA, ...common]), {})
    nodes.push(a)
    const boot = a.addresses.find((x) => x.startsWith('/ip4/127.0.0.1/'))!
    const b = await startFromBanner(wrapped([bin, 'start', '--name', 'rel-b', '--data-dir', dirB, '--bootstrap', boot, ...common]), {})
    nodes.push(b)
    // the dashboard's page is in the release (tsc does not emit it; a node without it did not start)
    const page = await sys(wrapped([join(unpacked, 'runtime', 'bin', 'node'), '-e', `fetch('http://${b.api}/').then(async (r) => { const t = await r.text(); console.log(r.status, t.includes('<title>meshsync</title>')) })`]))
    expect(page.stdout.trim(), page.stderr).toBe('200 true')
    await poll('node B to hear of the file', async () => {
      const r = await sys(wrapped([bin, 'files', '--api', b.api, '--json']))
      return r.code === 0 && (JSON.parse(r.stdout) as { sha256: string }[]).some((f) => f.sha256 === sha)
    })
    const f = await sys(wrapped([bin, 'fetch', sha, '--api', b.api, '--json']))
    expect(f, f.stderr).toMatchObject({ code: 0 })
    expect(JSON.parse(f.stdout)).toMatchObject({ sha256: sha, state: 'landed', path: 'weights.bin' })
    expect((await readFile(join(dirB, 'weights.bin'))).equals(data)).toBe(true)
  })
})

/**
 * The .deb installed with `dpkg --root` into a scratch root (its maintainer
 * scripts run chrootless against that root through DPKG_ROOT): files, the user
 * postinst creates, modes, and what remove and purge keep.
 */
describe('release .deb', () => {
  let R = ''
  const dpkg = (...args: string[]) => run('dpkg', [`--root=${R}`, '--force-script-chrootless', '--log=/dev/null', ...args])
  const mode = async (p: string) => {
    const { stat } = await import('node:fs/promises')
    const s = await stat(join(R, p))
    return { mode: (s.mode & 0o7777).toString(8), uid: s.uid, gid: s.gid }
  }
  const skip = !isRoot || !has('dpkg') || !has('useradd')

  beforeAll(async () => {
    if (skip || deb == null) return
    R = join(work, 'root')
    for (const d of ['etc/meshsync', 'var/lib/dpkg/info', 'var/lib/dpkg/updates', 'var/log']) await mkdir(join(R, d), { recursive: true })
    await writeFile(join(R, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\n')
    await writeFile(join(R, 'etc/group'), 'root:x:0:\n')
    await writeFile(join(R, 'etc/shadow'), 'root:*:19000:0:99999:7:::\n', { mode: 0o640 })
    await writeFile(join(R, 'etc/gshadow'), 'root:*::\n', { mode: 0o640 })
    await writeFile(join(R, 'var/lib/dpkg/status'), '')
    // a swarm key copied in before the install, world-readable by mistake: postinst tightens it
    await writeFile(join(R, 'etc/meshsync/swarm.key'), 'not a real key\n', { mode: 0o644 })
  }, 60_000)

  it.skipIf(skip)('installs under /opt/meshsync, creates the meshsync system user, the folders with their modes, and does not enable the unit', async () => {
    expect(deb).toMatch(/meshsync_[0-9.~a-z]+_amd64\.deb$/)
    const info = await run('dpkg-deb', ['--field', deb!, 'Package', 'Architecture', 'Depends'])
    expect(info.stdout).toContain('Package: meshsync')
    expect(info.stdout).toContain('Architecture: amd64')
    // the scratch root has no libc6 package in its dpkg database
    const i = await dpkg('--force-depends', '-i', deb!)
    expect(i, i.stderr).toMatchObject({ code: 0 })
    expect(i.stdout).toContain('meshsync.service is NOT enabled')

    const user = (await readFile(join(R, 'etc/passwd'), 'utf8')).split('\n').find((l) => l.startsWith('meshsync:'))
    expect(user).toBeDefined()
    const [, , uid, gid, , home, shell] = user!.split(':')
    expect(Number(uid)).toBeLessThan(1000) // a system user
    expect(home).toBe('/var/lib/meshsync')
    expect(shell).toBe('/usr/sbin/nologin')
    expect((await readFile(join(R, 'etc/group'), 'utf8')).split('\n').some((l) => l.startsWith(`meshsync:x:${gid}:`))).toBe(true)

    expect(await mode('var/lib/meshsync')).toEqual({ mode: '750', uid: Number(uid), gid: Number(gid) })
    expect(await mode('etc/meshsync')).toEqual({ mode: '750', uid: 0, gid: Number(gid) })
    expect(await mode('etc/meshsync/env')).toEqual({ mode: '640', uid: 0, gid: Number(gid) })
    expect(await mode('etc/meshsync/swarm.key')).toEqual({ mode: '640', uid: 0, gid: Number(gid) })
    expect((await mode('opt/meshsync/runtime/bin/node')).mode).toBe('755')
    expect((await mode('lib/systemd/system/meshsync.service')).mode).toBe('644')
    const { existsSync, readlinkSync } = await import('node:fs')
    expect(readlinkSync(join(R, 'usr/bin/meshsync'))).toBe('/opt/meshsync/bin/meshsync')
    expect(existsSync(join(R, 'etc/systemd/system/multi-user.target.wants/meshsync.service'))).toBe(false)
    // the installed tree runs (with its own runtime) from where dpkg put it
    const v = await run(join(R, 'opt/meshsync/bin/meshsync'), ['--version'], { env: { PATH: '/bin' } })
    expect(v, v.stderr).toMatchObject({ code: 0 })
    expect(v.stdout).toMatch(/^meshsync \S+ \(commit [0-9a-f]{40}/)
  })

  it.skipIf(skip)('reinstall keeps everything; remove keeps /var/lib/meshsync (data, identity) and /etc/meshsync; purge says what it deletes, then deletes it', async () => {
    const { existsSync } = await import('node:fs')
    await mkdir(join(R, 'var/lib/meshsync/.meshsync'), { recursive: true })
    await writeFile(join(R, 'var/lib/meshsync/.meshsync/identity.key'), 'identity')
    await writeFile(join(R, 'var/lib/meshsync/games.db'), 'data')
    // installed again (as an upgrade is): the user, folders and data stay as they are
    const passwd = await readFile(join(R, 'etc/passwd'), 'utf8')
    const again = await dpkg('--force-depends', '-i', deb!)
    expect(again, again.stderr).toMatchObject({ code: 0 })
    expect(again.stdout).not.toContain('NOT enabled') // the first-install hint only
    expect(await readFile(join(R, 'etc/passwd'), 'utf8')).toBe(passwd)
    expect(await readFile(join(R, 'var/lib/meshsync/.meshsync/identity.key'), 'utf8')).toBe('identity')
    expect((await mode('var/lib/meshsync')).mode).toBe('750')

    const r = await dpkg('-r', 'meshsync')
    expect(r, r.stderr).toMatchObject({ code: 0 })
    expect(existsSync(join(R, 'opt/meshsync'))).toBe(false)
    expect(existsSync(join(R, 'usr/bin/meshsync'))).toBe(false)
    expect(await readFile(join(R, 'var/lib/meshsync/.meshsync/identity.key'), 'utf8')).toBe('identity')
    expect(await readFile(join(R, 'var/lib/meshsync/games.db'), 'utf8')).toBe('data')
    expect(existsSync(join(R, 'etc/meshsync/swarm.key'))).toBe(true)
    expect(existsSync(join(R, 'etc/meshsync/env'))).toBe(true) // a conffile: kept until purge
    expect(r.stdout).toContain('kept /etc/meshsync')

    const p = await dpkg('-P', 'meshsync')
    expect(p, p.stderr).toMatchObject({ code: 0 })
    expect(p.stdout).toMatch(/deleting \/var\/lib\/meshsync \(.*2 files\).*identity key/)
    expect(p.stdout).toContain('deleting /etc/meshsync')
    expect(existsSync(join(R, 'var/lib/meshsync'))).toBe(false)
    expect(existsSync(join(R, 'etc/meshsync'))).toBe(false)
  })
})
