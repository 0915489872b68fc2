import { randomBytes } from 'node:crypto'
import { copyFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { MeshsyncNode } from '../../src/node.js'
import type { FileJson } from '../../src/node/read-models.js'
import { api, startNode, stopAll, waitFor } from '../helpers/cluster.js'
import { FIXTURES } from '../helpers/fixtures.js'

/** A .bin is a model (broadcast to every training node) only when its bytes are a model's. */
describe('.bin files on a node with the built-in policies', () => {
  let node: MeshsyncNode
  beforeAll(async () => {
    node = await startNode({ name: 'bin-kind' })
  })
  afterAll(async () => {
    await stopAll([node])
  })

  it('a random .bin is other (default policy); a safetensors checkpoint named .bin is a model', async () => {
    await writeFile(join(node.layout.dataDir, 'random.bin'), randomBytes(4096))
    await copyFile(join(FIXTURES, 'models/policy_hex8_2p.safetensors'), join(node.layout.dataDir, 'pytorch_model.bin'))
    const files = await waitFor('both cataloged', async () => {
      const f = await api<FileJson[]>(node, '/files')
      return f.length === 2 ? f : undefined
    })
    const by = Object.fromEntries(files.map((f) => [f.path, { kind: f.kind, policy: f.policy }]))
    expect(by).toEqual({ 'random.bin': { kind: 'other', policy: 'default' }, 'pytorch_model.bin': { kind: 'model', policy: 'models' } })
  })
})
