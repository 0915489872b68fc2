import type { BlobClient } from '../../protocols/blob/index.js'

/**
 * debug.libp2pFetch = false: a blob client whose every session fails to
 * open, as when no holder can be reached over libp2p. The download then
 * stalls, and the transfer manager moves on to BitTorrent (for files that
 * have a torrent). For tests of that path only.
 */
export const refusingBlobClient = {
  open: () => Promise.reject(new Error('debug.libp2pFetch is false: this node fetches nothing over libp2p')),
} as unknown as BlobClient
