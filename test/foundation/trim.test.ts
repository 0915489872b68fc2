import { describe, expect, it } from 'vitest'
import { type ConnectionFacts, Reconnect } from '../../src/mesh/reconnect.js'
import { ManualClock } from '../../src/util/clock.js'
import { silentLogger } from '../../src/util/log.js'

/**
 * The trimming half of the loop that keeps a node in the mesh, over a table
 * of connections (the libp2p side, connectionFacts, is exercised by every
 * cluster test; this pins the policy).
 */
function loop(conns: ConnectionFacts[], targetPeers: number) {
  const closed: string[] = []
  const r = new Reconnect({
    connected: () => conns.filter((c) => !closed.includes(c.peerId)).length,
    dial: async () => {},
    bootstrap: [],
    known: () => [],
    lost: () => [],
    minPeers: 3,
    targetPeers,
    connections: async () => conns.filter((c) => !closed.includes(c.peerId)),
    close: async (peerId) => {
      closed.push(peerId)
    },
    intervalMs: 1000,
    clock: new ManualClock(),
    log: silentLogger,
  })
  return { r, closed }
}

const conn = (peerId: string, ageS: number, keep = false): ConnectionFacts => ({ peerId, ageMs: ageS * 1000, keep })

describe('connection trimming above targetPeers', () => {
  it('closes only the excess, oldest idle ones first, never kept or young ones', async () => {
    const conns = [conn('mesh', 900, true), conn('old', 600), conn('older', 800), conn('young', 5), conn('mid', 100), conn('transfer', 1000, true)]
    const { r, closed } = loop(conns, 4)
    await r.tick(AbortSignal.timeout(1000))
    expect(closed).toEqual(['older', 'old'])
    await r.tick(AbortSignal.timeout(1000))
    expect(closed).toEqual(['older', 'old'])
  })

  it('does nothing at or below targetPeers, and stops at what may not be closed', async () => {
    const { r, closed } = loop([conn('a', 100), conn('b', 100)], 2)
    await r.tick(AbortSignal.timeout(1000))
    expect(closed).toEqual([])
    const many = Array.from({ length: 30 }, (_, i) => conn(`k${i}`, 100 + i, i % 2 === 0))
    const t = loop(many, 4)
    for (let i = 0; i < 5; i++) await t.r.tick(AbortSignal.timeout(1000))
    // the 15 idle ones go, 8 a tick at most; the 15 kept stay although still above the target
    expect(t.closed.length).toBe(15)
    expect(t.closed.every((p) => Number(p.slice(1)) % 2 === 1)).toBe(true)
  })
})
