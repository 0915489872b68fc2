import { spawn, spawnSync } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import type { Server } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { prettyLine } from '../../src/util/log-pretty.js'
import { BIN, cleanEnv, meshsync, occupiedPort, requireBuild } from './support.js'

const HAS_SCRIPT = spawnSync('script', ['--version'], { stdio: 'ignore' }).status === 0
if (!HAS_SCRIPT) process.stderr.write('SKIPPED part of test/cli/logs.test.ts: script (util-linux) is missing, so no pseudo-terminal\n')

/** Runs `bin/meshsync ARGS` on a pseudo-terminal (util-linux script); resolves with what the terminal showed. */
function onTty(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn('script', ['-qec', [BIN, ...args].join(' '), '/dev/null'], { env: cleanEnv(env), stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString()
    })
    child.stderr.on('data', (d: Buffer) => {
      out += d.toString()
    })
    const t = setTimeout(() => child.kill('SIGKILL'), 45_000)
    child.once('close', (code) => {
      clearTimeout(t)
      resolve({ code, out: out.replace(/\r/g, '') })
    })
  })
}

const ANSI = new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, 'g')

/**
 * Log format of the real binary: human lines on a terminal, JSON lines when
 * piped or under systemd (JOURNAL_STREAM), or as log.format says. A start
 * that fails on a busy API port logs two info lines and exits by itself.
 */
describe('meshsync logs: pretty on a terminal, JSON otherwise', () => {
  let work: string
  let busy: { port: number; server: Server }
  let n = 0
  const args = (): string[] => ['start', '--data-dir', join(work, `d${n++}`), '--init', '--api', `127.0.0.1:${busy.port}`, '--listen', '/ip4/127.0.0.1/tcp/0']

  beforeAll(async () => {
    requireBuild()
    work = await mkdtemp(join(tmpdir(), 'meshsync-logs-'))
    busy = await occupiedPort()
  })
  afterAll(async () => {
    busy.server.close()
    await rm(work, { recursive: true, force: true })
  })

  it.skipIf(!HAS_SCRIPT)('on a terminal: human lines, no JSON', async () => {
    const r = await onTty(args())
    expect(r.code).toBe(1)
    const lines = r.out.replace(ANSI, '').trim().split('\n')
    expect(lines.some((l) => /^\d\d:\d\d:\d\d\.\d{3} INFO {2}[^:]+: new identity created peerId=12D3Koo\S+ file=\S+identity\.key$/.test(l)), r.out).toBe(true)
    expect(lines.some((l) => l.startsWith('{')), r.out).toBe(false)
    expect(lines.at(-1)).toContain(`meshsync: api.listen 127.0.0.1:${busy.port} is in use`)
  })

  it.skipIf(!HAS_SCRIPT)('on a terminal under systemd (JOURNAL_STREAM), or with log.format=json: JSON lines', async () => {
    for (const r of [await onTty(args(), { JOURNAL_STREAM: '8:12345' }), await onTty([...args(), '--set', 'log.format=json'])]) {
      const lines = r.out.trim().split('\n')
      const logs = lines.filter((l) => !l.startsWith('meshsync:'))
      expect(logs.length, r.out).toBeGreaterThan(0)
      for (const l of logs) expect(JSON.parse(l), l).toMatchObject({ level: 30 })
      expect(logs.some((l) => JSON.parse(l).msg === 'new identity created')).toBe(true)
    }
  })

  it('piped: JSON lines', async () => {
    const r = await meshsync(args(), { timeoutMs: 45_000 })
    expect(r.code).toBe(1)
    const logs = r.stderr.trim().split('\n').filter((l) => !l.startsWith('meshsync:'))
    expect(logs.length, r.stderr).toBeGreaterThan(0)
    for (const l of logs) expect(JSON.parse(l), l).toHaveProperty('msg')
  })

  it('formats fields: plain words bare, text with spaces quoted, objects as JSON', () => {
    const line = prettyLine(JSON.stringify({ level: 40, time: '2026-12-04T02:06:05.150Z', node: 'gpu-1', msg: 'evacuation failed', err: 'no room left', n: 3, peers: ['a'] }), false)
    expect(line).toBe('02:06:05.150 WARN  gpu-1: evacuation failed err="no room left" n=3 peers=["a"]')
    expect(prettyLine('not json', false)).toBe('not json')
  })
})
