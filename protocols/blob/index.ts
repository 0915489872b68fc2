/**
 * The blob protocol: a file's bytes, by SHA-256, chunk-verified. See SPEC.md.
 */
export * from './constants.js'
export * from './chunks.js'
export { Bitfield } from './bitfield.js'
export { metaProblem, type BlobMeta, type BlobRequest, type Expected } from './codec.js'
export { BlobServer, blobServer, type BlobProvider, type BlobHandle, type BlobServerInit, type ServeContext } from './server.js'
export { BlobClient, BlobSession, blobClient, type ChunkSink } from './client.js'
