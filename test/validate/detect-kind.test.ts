import { describe, expect, it } from 'vitest'
import { detectKind } from '../../src/validate/index.js'

const zip = Buffer.from('PK\x03\x04\x14\x00\x00\x00', 'latin1')
const sqlite = Buffer.from('SQLite format 3\0\x10\x00\x01\x01', 'latin1')
const text = Buffer.from('hello world, not a magic number')
const safetensorsHead = Buffer.concat([Buffer.from([0xd8, 0, 0, 0, 0, 0, 0, 0]), Buffer.from('{"a":')])

describe('detectKind', () => {
  const cases: [string, Uint8Array, string][] = [
    ['data/hex8.npz', zip, 'npz'],
    ['data/HEX8.NPZ', zip, 'npz'],
    ['data/hex8.npz', text, 'npz'], // named .npz but not a zip: the npz validator says why
    ['data/hex8.npz', new Uint8Array(0), 'npz'],
    ['games/selfplay.db', sqlite, 'sqlite'],
    ['games/selfplay.sqlite', text, 'sqlite'],
    ['games/selfplay.sqlite3', text, 'sqlite'],
    ['games/selfplay.bin', sqlite, 'sqlite'], // magic wins over the extension
    ['games/selfplay.npz', sqlite, 'sqlite'],
    ['games/noext', sqlite, 'sqlite'],
    ['models/policy.safetensors', safetensorsHead, 'model'],
    ['models/policy.safetensors', text, 'model'],
    ['models/policy.pt', zip, 'model'], // torch zip checkpoints are models, not npz
    ['models/policy.pth', text, 'model'],
    ['models/policy.ckpt', text, 'model'],
    ['models/pytorch_model.bin', text, 'model'],
    ['models/policy.onnx', text, 'model'],
    ['archive.zip', zip, 'other'],
    ['notes.txt', text, 'other'],
    ['noext', new Uint8Array(0), 'other'],
    ['db.npz.txt', zip, 'other'],
    ['dir.npz/file', zip, 'other'],
  ]
  for (const [path, head, kind] of cases) {
    it(`${path} (${Buffer.from(head).toString('latin1').slice(0, 6).replace(/[^\x20-\x7e]/g, '.')}) -> ${kind}`, () => {
      expect(detectKind(path, head)).toBe(kind)
    })
  }
})
