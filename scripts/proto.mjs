// Regenerates the checked-in protobuf codecs: protocols/<name>/<name>.proto -> <name>.pb.ts (protons).
// Run with: tools/node24 npm run proto
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readdirSync, renameSync, rmSync, existsSync } from 'node:fs'
import { join, basename, dirname } from 'node:path'
import { tmpdir } from 'node:os'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const protons = join(root, 'node_modules', '.bin', 'protons')
for (const dir of readdirSync(join(root, 'protocols'))) {
  const folder = join(root, 'protocols', dir)
  for (const f of readdirSync(folder).filter((f) => f.endsWith('.proto'))) {
    const out = mkdtempSync(join(tmpdir(), 'proto-'))
    execFileSync(protons, ['-o', out, join(folder, f)], { stdio: 'inherit' })
    const name = basename(f, '.proto')
    const generated = join(out, `${name}.ts`)
    if (!existsSync(generated)) throw new Error(`protons wrote nothing for ${f}`)
    renameSync(generated, join(folder, `${name}.pb.ts`))
    rmSync(out, { recursive: true, force: true })
    console.log(`protocols/${dir}/${name}.pb.ts`)
  }
}
