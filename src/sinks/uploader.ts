import { hrwScore, type NodeFacts } from '../replication/placement.js'

/**
 * Which node uploads a file to a sink, from gossiped facts only, so every
 * node computes the same answer and a file is uploaded once, not by every
 * holder: among the holders that are up and say they can reach the sink,
 * the file's origin if it is one of them, else the highest rendezvous score
 * of (sha256, sink). A holder that goes
 * suspect or down drops out, and the next one in the ranking takes over.
 */
export function chooseUploader(sha256: string, sink: string, holders: readonly string[], nodes: ReadonlyMap<string, NodeFacts>, origin?: string): string | undefined {
  const eligible = (h: string): boolean => {
    const n = nodes.get(h)
    return n != null && n.state === 'up' && !n.evacuating && (n.sinks ?? []).includes(sink)
  }
  // the origin first: every node knows it holds the file from the start, so a replica that is still
  // arriving on another node (and not yet in everyone's view) cannot make two nodes think they are chosen
  if (origin != null && holders.includes(origin) && eligible(origin)) return origin
  let best: string | undefined
  let bestScore = -Infinity
  for (const h of holders) {
    if (!eligible(h)) continue
    const s = hrwScore(`${sha256}/${sink}`, h, 1)
    if (s > bestScore || (s === bestScore && best != null && h < best)) {
      best = h
      bestScore = s
    }
  }
  return best
}

/** The sinks a file goes to: `copies` of the policy's sinks, ranked by rendezvous hash so the choice is the same everywhere. */
export function sinksFor(sha256: string, backup: readonly string[], copies: number): string[] {
  return [...backup]
    .map((name) => ({ name, s: hrwScore(sha256, `sink:${name}`, 1) }))
    .sort((a, b) => b.s - a.s || (a.name < b.name ? -1 : 1))
    .slice(0, Math.max(0, copies))
    .map((x) => x.name)
}
