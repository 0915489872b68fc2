import { createHash } from 'node:crypto'

/**
 * Files are cut into chunks of a size that depends only on the file size, so
 * every holder of a file computes the same chunk hashes and chunk root:
 * 1 MiB, doubled until the file has at most 65536 chunks (64 GiB at 1 MiB).
 */
export const BASE_CHUNK_SIZE = 1024 * 1024
export const MAX_CHUNKS = 65536
export const MAX_CHUNK_SIZE = 64 * 1024 * 1024

export function chunkSizeFor(size: number): number {
  let c = BASE_CHUNK_SIZE
  while (Math.ceil(size / c) > MAX_CHUNKS && c < MAX_CHUNK_SIZE) c *= 2
  return c
}

export function chunkCount(size: number, chunkSize: number): number {
  return Math.ceil(size / chunkSize)
}

/** Byte length of chunk `index`. */
export function chunkLength(size: number, chunkSize: number, index: number): number {
  return Math.min(chunkSize, size - index * chunkSize)
}

/** SHA-256 over the concatenated 32-byte chunk hashes. */
export function chunkRoot(chunkHashes: Uint8Array): Buffer {
  return createHash('sha256').update(chunkHashes).digest()
}
