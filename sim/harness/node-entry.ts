import { peerIdFromString } from '@libp2p/peer-id'
import { main } from '../../src/cli/main.js'
import { MeshsyncNode } from '../../src/node.js'

/**
 * A simulated node's process in the processes and netns modes: exactly
 * `meshsync start` (same arguments, same signal handling: SIGTERM evacuates),
 * plus a control channel over IPC that the harness uses for what has no API:
 * partitions (the node's PeerGater block/unblock and hanging up on the
 * blocked peers). When the harness goes away the node dies with it, so a
 * crashed run leaves no orphans.
 */
let node: MeshsyncNode | undefined
const start = MeshsyncNode.prototype.start
MeshsyncNode.prototype.start = async function (this: MeshsyncNode) {
  node = this
  return start.call(this)
}

interface Request {
  id: number
  op: string
  peers?: string[]
}

process.on('message', (m: Request) => {
  void (async () => {
    try {
      if (node == null) throw new Error('node not started yet')
      let result: unknown = null
      switch (m.op) {
        case 'block':
          node.gater.block(m.peers ?? [])
          await hangUp(node, m.peers ?? [])
          break
        case 'unblock':
          node.gater.unblock(m.peers)
          break
        case 'blocked':
          result = node.gater.blocked
          break
        default:
          throw new Error(`unknown op ${m.op}`)
      }
      process.send?.({ id: m.id, ok: true, result })
    } catch (err) {
      process.send?.({ id: m.id, ok: false, error: (err as Error).message })
    }
  })()
})
process.on('disconnect', () => process.kill(process.pid, 'SIGKILL'))

export async function hangUp(n: MeshsyncNode, peers: string[]): Promise<void> {
  await Promise.all(peers.map((p) => n.mesh.hangUp(peerIdFromString(p)).catch(() => {})))
}

const code = await main(process.argv)
// the IPC channel would keep the process alive
process.exit(code)
