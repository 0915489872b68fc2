/** The blob protocol's bulk TLS 1.3 lane (SPEC.md, Bulk data lane). */
export { LaneServer, plainIp, type LaneRefusal, type LaneServerInit } from './server.js'
export { connectLane, ipOfAddr, LaneConnection, LaneUnavailableError } from './client.js'
export { LANE_TOKEN_TTL_MS, type LaneOffer } from './wire.js'
