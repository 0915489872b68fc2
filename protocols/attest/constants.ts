export const ATTEST_PROTOCOL = '/meshsync/attest/1.0.0'
/** Prefix of the signed bytes, so an attestation signature can never be mistaken for another signature. */
export const SIGNING_DOMAIN = 'meshsync-attest-v1\n'
export const MAX_REQUEST_BYTES = 256
export const MAX_RESPONSE_BYTES = 4096
/** Re-hashes running at once on one node; more requests get BUSY. */
export const MAX_CONCURRENT = 2
