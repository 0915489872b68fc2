/** Gossipsub topic for health reports. */
export const HEALTH_TOPIC = '/meshsync/health/1'
/** Largest health message accepted, checked before decoding. */
export const MAX_HEALTH_BYTES = 16 * 1024
export const MAX_ADDRS = 32
export const MAX_TAGS = 64
export const MAX_DOWNLOADING = 64
export const MAX_STRING = 256
/** Backup sinks a node says it can reach (names as in the config: lower-case words of up to 32 characters). */
export const MAX_SINKS = 16
export const SINK_NAME = /^[a-z][a-z0-9_-]{0,31}$/
