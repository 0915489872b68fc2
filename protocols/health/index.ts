/**
 * Health gossip: each node's disk, load, role, transports and manifest
 * digest, on HEALTH_TOPIC every few seconds. See SPEC.md.
 */
export * from './constants.js'
export { decodeHealth, encodeHealth, type DiskLevel, type HealthReport } from './codec.js'
