/**
 * The manifest protocol: what files a node holds.
 *
 * - Gossip topic MANIFEST_TOPIC carries signed deltas (encodeDelta/decodeDelta).
 * - MANIFEST_SYNC_PROTOCOL pulls a node's whole manifest, page by page
 *   (anti-entropy), through the ManifestSync service.
 *
 * See SPEC.md. Nothing here decides what to do with a manifest.
 */
export * from './constants.js'
export {
  comparePaths,
  decodeDelta,
  encodeDelta,
  entryDigest,
  xorInto,
  type EntryKind,
  type ManifestDelta,
  type ManifestEntry,
  type ManifestPage,
} from './codec.js'
export { ManifestSync, manifestSync, type FetchedManifest, type ManifestSource, type ManifestSyncComponents, type ManifestSyncInit } from './sync.js'
