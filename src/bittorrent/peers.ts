import { isIP } from 'node:net'
import type { HealthReport } from '../../protocols/health/index.js'

/**
 * BitTorrent peers come from the mesh, never from a public DHT: each node's
 * health gossip carries its BitTorrent port next to its libp2p addresses, and
 * the IP addresses of those give `ip:port` to dial.
 */

export const BT_TRANSPORT = 'bittorrent'

/** The IP in a multiaddr such as /ip4/10.0.0.5/tcp/4001 or /ip6/::1/tcp/4001 (no DNS names). */
export function ipOfMultiaddr(addr: string): string | undefined {
  const m = /^\/(ip4|ip6)\/([^/]+)(\/|$)/.exec(addr)
  if (m == null) return undefined
  const ip = m[2]!
  const v = isIP(ip)
  if ((m[1] === 'ip4' && v !== 4) || (m[1] === 'ip6' && v !== 6)) return undefined
  // an unspecified address is no place to dial
  if (ip === '0.0.0.0' || ip === '::') return undefined
  return ip
}

/** `ip:port` (IPv6 in brackets), as webtorrent's addPeer wants it. */
export function hostPort(ip: string, port: number): string {
  return isIP(ip) === 6 ? `[${ip}]:${port}` : `${ip}:${port}`
}

/** Where a node says it takes BitTorrent connections; empty when it runs no BitTorrent client. */
export function btAddresses(h: Pick<HealthReport, 'addrs' | 'btPort' | 'transports'> | undefined): string[] {
  if (h == null || !Number.isInteger(h.btPort) || h.btPort <= 0 || h.btPort > 65535 || !h.transports.includes(BT_TRANSPORT)) return []
  const out = new Set<string>()
  for (const a of h.addrs) {
    const ip = ipOfMultiaddr(a)
    if (ip != null) out.add(hostPort(ip, h.btPort))
  }
  return [...out]
}

/** IPs a node's health names (for the allow-list of incoming BitTorrent connections). */
export function hostsOf(h: Pick<HealthReport, 'addrs'> | undefined): string[] {
  return (h?.addrs ?? []).map(ipOfMultiaddr).filter((ip): ip is string => ip != null)
}

/** An address as sockets report it (`::ffff:127.0.0.1` for IPv4 on a dual-stack socket), plain. */
export function normalizeHost(addr: string): string {
  const a = addr.startsWith('[') ? addr.slice(1, addr.indexOf(']')) : addr
  return a.startsWith('::ffff:') && isIP(a.slice(7)) === 4 ? a.slice(7) : a
}
