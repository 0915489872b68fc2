import { describe, expect, it } from 'vitest'
import { loadConfig } from '../../src/config/load.js'
import { ConfigError } from '../../src/util/errors.js'

const s3 = { type: 's3', endpoint: 'http://127.0.0.1:9000', bucket: 'backups', forcePathStyle: true, credentials: { accessKeyIdEnv: 'AK', secretAccessKeyEnv: 'SK' } }

function load(flags: Record<string, unknown>): ReturnType<typeof loadConfig> {
  return loadConfig({ env: {}, flags })
}

function errorOf(flags: Record<string, unknown>): ConfigError {
  try {
    load(flags)
  } catch (err) {
    if (err instanceof ConfigError) return err
    throw err
  }
  throw new Error('expected a ConfigError')
}

describe('sinks config', () => {
  it('parses s3 and path sinks, settings and policy backup keys', () => {
    const c = load({ sinks: { verifyMaxAgeSeconds: 600, cloud: s3, drive: { type: 'path', path: '/mnt/x' } }, policies: { games: { match: { kinds: ['sqlite'] }, backup: ['cloud', 'drive'], backupCopies: 2, backupMaxSize: 500_000_000 } } })
    expect(c.sinks.verifyMaxAgeSeconds).toBe(600)
    expect(Object.keys(c.sinks.targets).sort()).toEqual(['cloud', 'drive'])
    expect(c.sinks.targets.cloud).toMatchObject({ type: 's3', bucket: 'backups', prefix: 'meshsync', region: 'us-east-1' })
    const games = c.resolvedPolicies.find((p) => p.name === 'games')!
    expect(games.backup).toEqual(['cloud', 'drive'])
    expect(games.backupCopies).toBe(2)
  })

  it('defaults to no sinks', () => {
    const c = load({})
    expect(c.sinks.targets).toEqual({})
    expect(c.disk.requireBackupForDelete).toBe(false)
  })

  it('names the key of a bad sink', () => {
    expect(errorOf({ sinks: { cloud: { ...s3, bucket: 'X' } } }).key).toBe('sinks.cloud.bucket')
    expect(errorOf({ sinks: { cloud: { ...s3, secret: 'inline' } } }).message).toMatch(/sinks\.cloud/)
    expect(errorOf({ sinks: { cloud: { type: 'ftp' } } }).key).toMatch(/^sinks\.cloud/)
  })

  it('refuses a policy naming an unknown sink, and requireBackupForDelete without sinks', () => {
    const e = errorOf({ sinks: { cloud: s3 }, policies: { games: { backup: ['nope'] } } })
    expect(e.key).toBe('policies.games.backup')
    expect(e.message).toMatch(/'nope'.*cloud/)
    expect(errorOf({ disk: { requireBackupForDelete: true } }).key).toBe('disk.requireBackupForDelete')
    expect(errorOf({ sinks: { cloud: s3 }, policies: { games: { backup: ['cloud'], backupCopies: 2 } } }).key).toBe('policies.games.backupCopies')
  })
})
