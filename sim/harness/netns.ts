import { execFile } from 'node:child_process'
import { promisify } from 'node:util'

const run = promisify(execFile)

async function ip(...args: string[]): Promise<void> {
  await run('ip', args)
}
async function tc(...args: string[]): Promise<void> {
  await run('tc', args)
}

/**
 * The netns mode's network: one network namespace per node, a veth pair from
 * it to a bridge in the root namespace, an address of its own in
 * 10.213.0.0/16 (the harness reaches every node's API through the bridge),
 * and per-link caps with tc htb (the node's upload on its side of the veth,
 * its download on the bridge side). No netem: latency, where a scenario
 * wants it, comes from the userspace proxy. Needs root.
 */
export class NetnsNet {
  readonly tag: string
  readonly count: number
  #made = new Set<number>()
  #bridge = false

  private constructor(tag: string, count: number) {
    this.tag = tag
    this.count = count
  }

  static async available(): Promise<string | undefined> {
    if (process.getuid?.() !== 0) return 'netns mode needs root (it creates network namespaces)'
    try {
      await run('ip', ['-V'])
      await run('tc', ['-V'])
    } catch {
      return "netns mode needs the 'ip' and 'tc' commands (Debian: iproute2)"
    }
    return undefined
  }

  static async create(count: number): Promise<NetnsNet> {
    const why = await NetnsNet.available()
    if (why != null) throw new Error(why)
    if (count > 1000) throw new Error('netns mode: at most 1000 nodes')
    const tag = (process.pid % 46656).toString(36).padStart(3, '0')
    const net = new NetnsNet(tag, count)
    try {
      await ip('link', 'add', net.bridge, 'type', 'bridge')
      net.#bridge = true
      await ip('addr', 'add', `${NetnsNet.gateway}/16`, 'dev', net.bridge)
      await ip('link', 'set', net.bridge, 'up')
      for (let i = 0; i < count; i++) await net.#add(i)
    } catch (err) {
      await net.destroy()
      throw err
    }
    return net
  }

  static readonly gateway = '10.213.255.254'

  get bridge(): string {
    return `ms${this.tag}br`
  }

  ns(i: number): string {
    return `msim${this.tag}n${i}`
  }

  veth(i: number): string {
    return `ms${this.tag}v${i}`
  }

  host(i: number): string {
    return `10.213.${Math.floor(i / 200)}.${(i % 200) + 1}`
  }

  /** Command prefix that runs a program inside node i's namespace. */
  wrap(i: number): string[] {
    return ['ip', 'netns', 'exec', this.ns(i)]
  }

  async #add(i: number): Promise<void> {
    const ns = this.ns(i)
    await ip('netns', 'add', ns)
    this.#made.add(i)
    await ip('link', 'add', this.veth(i), 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns)
    await ip('link', 'set', this.veth(i), 'master', this.bridge, 'up')
    await ip('-n', ns, 'addr', 'add', `${this.host(i)}/16`, 'dev', 'eth0')
    await ip('-n', ns, 'link', 'set', 'eth0', 'up')
    await ip('-n', ns, 'link', 'set', 'lo', 'up')
  }

  /** Caps node i's link: upload (what leaves the node) and download (what reaches it), bytes per second; 0 or absent = none. */
  async capLink(i: number, caps: { upload?: number; download?: number }): Promise<void> {
    await this.#htb(['-n', this.ns(i)], 'eth0', caps.upload)
    await this.#htb([], this.veth(i), caps.download)
  }

  async #htb(nsArgs: string[], dev: string, rate: number | undefined): Promise<void> {
    await tc(...nsArgs, 'qdisc', 'del', 'dev', dev, 'root').catch(() => {})
    if (rate == null || rate <= 0) return
    const bits = `${Math.max(8000, Math.round(rate * 8))}bit`
    const burst = `${Math.max(32 * 1024, Math.round(rate / 20))}b`
    await tc(...nsArgs, 'qdisc', 'add', 'dev', dev, 'root', 'handle', '1:', 'htb', 'default', '1')
    await tc(...nsArgs, 'class', 'add', 'dev', dev, 'parent', '1:', 'classid', '1:1', 'htb', 'rate', bits, 'ceil', bits, 'burst', burst, 'cburst', burst)
  }

  async destroy(): Promise<void> {
    for (const i of [...this.#made]) {
      await ip('link', 'del', this.veth(i)).catch(() => {})
      await ip('netns', 'del', this.ns(i)).catch(() => {})
      this.#made.delete(i)
    }
    if (this.#bridge) await ip('link', 'del', this.bridge).catch(() => {})
    this.#bridge = false
  }
}
