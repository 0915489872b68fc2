import { readFile } from 'node:fs/promises'
import { generateKey } from '@libp2p/pnet'
import { writeFileAtomic } from '../src/util/fs.js'

const HEADER = '/key/swarm/psk/1.0.0/'

/** A new pre-shared swarm key in the go-ipfs/libp2p-pnet file format. */
export function newSwarmKey(): Uint8Array {
  const out = new Uint8Array(95)
  generateKey(out)
  return out
}

export async function writeSwarmKey(path: string): Promise<void> {
  await writeFileAtomic(path, newSwarmKey(), 0o600)
}

/** Reads and checks a swarm key file; the error names the file and what is wrong. */
export async function readSwarmKey(path: string): Promise<Uint8Array> {
  let bytes: Buffer
  try {
    bytes = await readFile(path)
  } catch (err) {
    throw new Error(`swarm key ${path}: ${(err as Error).message}`)
  }
  const lines = bytes.toString('utf8').trim().split(/\r?\n/)
  if (lines[0] !== HEADER) throw new Error(`swarm key ${path}: first line must be ${HEADER}`)
  if (lines[1] !== '/base16/') throw new Error(`swarm key ${path}: only /base16/ keys are supported`)
  if (!/^[0-9a-fA-F]{64}$/.test(lines[2] ?? '')) throw new Error(`swarm key ${path}: third line must be 64 hex digits`)
  return new Uint8Array(Buffer.from(`${HEADER}\n/base16/\n${lines[2]}`))
}
