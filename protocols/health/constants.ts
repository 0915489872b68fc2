/** Gossipsub topic for health reports. */
export const HEALTH_TOPIC = '/meshsync/health/1'
/** Largest health message accepted, checked before decoding. */
export const MAX_HEALTH_BYTES = 16 * 1024
export const MAX_ADDRS = 32
export const MAX_TAGS = 64
export const MAX_DOWNLOADING = 64
export const MAX_STRING = 256
