import { describe, expect, it } from 'vitest'
import { detectKind } from '../../src/validate/index.js'

const zip = Buffer.from('PK\x03\x04\x14\x00\x00\x00', 'latin1')
const sqlite = Buffer.from('SQLite format 3\0\x10\x00\x01\x01', 'latin1')
const text = Buffer.from('hello world, not a magic number')
const safetensorsHead = Buffer.concat([Buffer.from([0xd8, 0, 0, 0, 0, 0, 0, 0]), Buffer.from('{"a":')])
/** A zip local header whose first member is `name` (as torch.save writes `archive/data.pkl` first). */
function zipWith(name: string): Buffer {
  const h = Buffer.alloc(30)
  h.write('PK\x03\x04', 0, 'latin1')
  h.writeUInt16LE(name.length, 26)
  return Buffer.concat([h, Buffer.from(name, 'latin1')]).subarray(0, 64)
}
// torch.save's legacy format: pickle protocol 2, then LONG1 of its magic number
const torchPickle = Buffer.from([0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8])
const randomHead = Buffer.from([0x3e, 0x91, 0x07, 0xc2, 0x55, 0x10, 0xaa, 0x00, 0x7b, 0x01, 0x9f, 0x42])

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
    // a .bin is a model only if its bytes are one: any program writes .bin files
    ['models/pytorch_model.bin', text, 'other'],
    ['data/blob.bin', randomHead, 'other'],
    ['data/blob.bin', new Uint8Array(0), 'other'],
    ['data/archive.bin', zipWith('docs/readme.txt'), 'other'],
    ['models/pytorch_model.bin', zipWith('pytorch_model/data.pkl'), 'model'],
    ['models/pytorch_model.bin', zipWith(`${'x'.repeat(40)}/data.pkl`), 'model'], // name past the head: a zip .bin stays a model
    ['models/PYTORCH_MODEL.BIN', torchPickle, 'model'],
    ['models/policy.bin', safetensorsHead, 'model'],
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
