import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { parse } from 'yaml'
import { loadConfig } from '../../src/config/load.js'

const TEMPLATE = new URL('../../bootstrap/templates/cluster.yaml', import.meta.url).pathname

describe('bootstrap/templates/cluster.yaml', () => {
  const hosts = Object.keys((parse(readFileSync(TEMPLATE, 'utf8')) as { cluster: { hosts: Record<string, unknown> } }).cluster.hosts)

  it.each(hosts)('is a valid config for host %s', (name) => {
    const c = loadConfig({ file: TEMPLATE, env: {}, flags: { 'node.name': name } })
    expect(c.node.name).toBe(name)
    expect(c.resolvedPolicies.map((p) => p.name)).toContain('models')
  })

  it('gives spot hosts the ephemeral flag from the host list', () => {
    expect(loadConfig({ file: TEMPLATE, env: {}, flags: { 'node.name': 'selfplay-1' } }).node.ephemeral).toBe(true)
  })
})
