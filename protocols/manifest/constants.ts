/** Gossipsub topic for manifest deltas (version in the name: a new layout gets a new topic). */
export const MANIFEST_TOPIC = '/meshsync/manifest/1'
/** Request/response protocol for pulling a node's whole manifest (anti-entropy). */
export const MANIFEST_SYNC_PROTOCOL = '/meshsync/manifest/1.0.0'

/** Largest delta message accepted, checked before decoding. */
export const MAX_DELTA_BYTES = 1024 * 1024
/** Most upserts plus removals in one delta. */
export const MAX_DELTA_ENTRIES = 2000
/** Most entries the server puts in one page, whatever the request asks. */
export const MAX_PAGE_ENTRIES = 1000
/** Largest page accepted by a client, checked before decoding. */
export const MAX_PAGE_BYTES = 4 * 1024 * 1024
/** Largest request accepted by a server. */
export const MAX_REQUEST_BYTES = 2048
/** A page must arrive within this long. */
export const PAGE_TIMEOUT_MS = 20_000
/** Pages fetched for one manifest at most (1000 x 1000 = a million files). */
export const MAX_PAGES = 1000
