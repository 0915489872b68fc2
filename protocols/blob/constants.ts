export const BLOB_PROTOCOL = '/meshsync/blob/1.0.0'
export const MAX_REQUEST_BYTES = 16 * 1024
export const MAX_CHUNKS_PER_REQUEST = 1024
/** Unanswered chunks a holder keeps per stream. */
export const MAX_OUTSTANDING = 256
/** Unanswered meta and have requests a holder keeps per stream (a receiver polls `have` about once per chunk it awaits). */
export const MAX_OUTSTANDING_QUERIES = 256
/** Largest metadata response: 65536 chunk hashes plus facts. */
export const MAX_META_BYTES = 2 * 1024 * 1024 + 32 * 1024
export const MAX_FACTS_BYTES = 16 * 1024
/** A response must start within this long, or the holder is stalled. */
export const RESPONSE_TIMEOUT_MS = 30_000
/** Priority classes on the wire (Request.priority). */
export const PRIORITY_CODES = ['background', 'low', 'normal', 'high', 'critical'] as const
export type WirePriority = (typeof PRIORITY_CODES)[number]
