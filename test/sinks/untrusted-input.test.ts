import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { indexText, parseIndex } from '../../src/sinks/index.js'
import { S3Sink } from '../../src/sinks/s3.js'

const SHA = 'a'.repeat(64)
const entry = { path: 'games/a.db', sha256: SHA, size: 1, kind: 'sqlite' as const, origin: 'p', version: 1, mtimeMs: 0, chunkRoot: 'b'.repeat(64), promoted: false }

let dir = ''
afterAll(() => (dir !== '' ? rm(dir, { recursive: true, force: true }) : undefined))

describe('what a sink hands back is untrusted', () => {
  it('an index object must name a path the mesh would accept', () => {
    expect(parseIndex(indexText(entry))?.path).toBe('games/a.db')
    for (const bad of ['a\\..\\b', 'a\u0000b', 'C:/x', '.meshsync/state.db', '../x', '/etc/passwd', 'a//b', `${'d/'.repeat(70)}x`]) {
      expect(parseIndex(indexText({ ...entry, path: bad })), JSON.stringify(bad)).toBeUndefined()
    }
  })

  it('a credentials file that is not JSON is refused without quoting it (it holds the secret)', async () => {
    dir = await mkdtemp(join(tmpdir(), 'meshsync-cred-'))
    const file = join(dir, 'creds.json')
    await writeFile(file, '{"accessKeyId":AKIASECRETPART,"secretAccessKey":"s"}')
    let message = ''
    try {
      new S3Sink('cloud', { type: 's3', endpoint: 'http://127.0.0.1:1', bucket: 'backups', prefix: 'x', region: 'us-east-1', forcePathStyle: true, credentials: { file } }, {})
    } catch (err) {
      message = (err as Error).message
    }
    expect(message).toContain('not valid JSON')
    expect(message).toContain(file)
    expect(message).not.toContain('AKIA')
  })
})
