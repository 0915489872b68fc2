
import { readFile, stat } from 'node:fs/promises'
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { PrivateKey } from '@libp2p/interface'
import { writeFileAtomic } from '../src/util/fs.js'

export const IDENTITY_FILE = 'identity.key'

/**
 * Loads the node's Ed25519 key from `path`, or creates one on first start.
 * The key is the node's identity: keep the file (mode 0600) to keep the peer
 * ID across restarts; delete it and the node rejoins as a new peer.
 */
export async function loadOrCreateIdentity(path: string): Promise<{ privateKey: PrivateKey; created: boolean }> {
  let bytes: Uint8Array | undefined
  try {
    bytes = await readFile(path)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new Error(`cannot read identity key ${path}: ${(err as Error).message}`)
  }
  if (bytes != null) {
    const st = await stat(path)
    if ((st.mode & 0o077) !== 0) {
      throw new Error(`identity key ${path} is readable by others (mode ${(st.mode & 0o777).toString(8)}); run: chmod 600 ${path}`)
    }
    let key: PrivateKey
    try {
      key = privateKeyFromProtobuf(bytes)
    } catch (err) {
      throw new Error(`identity key ${path} is damaged (${(err as Error).message}); restore it from a backup, or move it away to start as a new peer`)
    }
    if (key.type !== 'Ed25519') throw new Error(`identity key ${path} is ${key.type}, expected Ed25519`)
    return { privateKey: key, created: false }
  }
  const key = await generateKeyPair('Ed25519')
  await writeFileAtomic(path, privateKeyToProtobuf(key), 0o600)
  return { privateKey: key, created: true }
}

export function peerIdOf(key: PrivateKey): string {
  return peerIdFromPrivateKey(key).toString()
}

