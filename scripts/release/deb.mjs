// Builds meshsync_<version>_amd64.deb with dpkg-deb from the staged release tree:
//   /opt/meshsync/...                  the tree (launcher, runtime, app, bootstrap)
//   /usr/bin/meshsync                  -> /opt/meshsync/bin/meshsync
//   /lib/systemd/system/meshsync.service   installed, not enabled
//   /etc/meshsync/env                  conffile (kept on remove)
// postinst makes the meshsync system user, /etc/meshsync (0750 root:meshsync) and
// /var/lib/meshsync (0750 meshsync:meshsync); remove keeps both, purge deletes them and says so.
import { execFileSync } from 'node:child_process'
import { chmodSync, copyFileSync, cpSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { sizeOf } from './prune.mjs'

export function buildDeb({ root, stageDir, workDir, outFile, version, commit, epoch, gzipLevel = 9 }) {
  const here = join(root, 'scripts', 'release', 'deb')
  const pkgRoot = join(workDir, 'deb-root')
  rmSync(pkgRoot, { recursive: true, force: true })
  cpSync(stageDir, join(pkgRoot, 'opt', 'meshsync'), { recursive: true, verbatimSymlinks: true })
  mkdirSync(join(pkgRoot, 'usr', 'bin'), { recursive: true })
  symlinkSync('/opt/meshsync/bin/meshsync', join(pkgRoot, 'usr', 'bin', 'meshsync'))
  mkdirSync(join(pkgRoot, 'lib', 'systemd', 'system'), { recursive: true })
  copyFileSync(join(root, 'bootstrap', 'systemd', 'meshsync.service'), join(pkgRoot, 'lib', 'systemd', 'system', 'meshsync.service'))
  mkdirSync(join(pkgRoot, 'etc', 'meshsync'), { recursive: true })
  copyFileSync(join(here, 'env'), join(pkgRoot, 'etc', 'meshsync', 'env'))
  chmodSync(join(pkgRoot, 'etc', 'meshsync', 'env'), 0o640)
  const installedKiB = Math.ceil(sizeOf(pkgRoot) / 1024)

  const control = join(pkgRoot, 'DEBIAN')
  mkdirSync(control)
  writeFileSync(
    join(control, 'control'),
    [
      'Package: meshsync',
      `Version: ${debVersion(version)}`,
      'Architecture: amd64',
      'Maintainer: meshsync developers <meshsync@localhost>',
      `Installed-Size: ${installedKiB}`,
      // the bundled Node.js links these; nothing else is needed (no Node, no network)
      'Depends: libc6 (>= 2.28), libstdc++6, libgcc-s1, passwd',
      'Section: net',
      'Priority: optional',
      'Homepage: file:///opt/meshsync/README.md',
      'Description: peer-to-peer data-sync node for GPU training clusters',
      ` meshsync ${version} (commit ${commit}) with its own Node.js runtime in /opt/meshsync.`,
      ' The unit meshsync.service is installed but not enabled; config and swarm key',
      ' go in /etc/meshsync, data in /var/lib/meshsync.',
      '',
    ].join('\n'),
  )
  writeFileSync(join(control, 'conffiles'), '/etc/meshsync/env\n')
  for (const s of ['postinst', 'prerm', 'postrm']) {
    copyFileSync(join(here, s), join(control, s))
    chmodSync(join(control, s), 0o755)
  }
  execFileSync('dpkg-deb', ['--root-owner-group', '-Zgzip', `-z${gzipLevel}`, '--build', pkgRoot, outFile], {
    stdio: ['ignore', 'ignore', 'inherit'],
    env: { ...process.env, SOURCE_DATE_EPOCH: String(epoch) },
  })
  rmSync(pkgRoot, { recursive: true, force: true })
  return outFile
}

/** A Debian version from package.json's: 0.1.0-rc.1 -> 0.1.0~rc.1 (sorts before 0.1.0). */
export function debVersion(v) {
  return v.replace('-', '~')
}
