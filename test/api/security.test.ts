import { statSync } from 'node:fs'
import { createConnection } from 'node:net'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { findRunningNode } from '../../src/api/key.js'
import type { MeshsyncNode } from '../../src/node.js'
import { startNode, stopAll } from '../helpers/cluster.js'
import { http, meshsync } from './support.js'

/**
 * The API is safe by default: a real node, real HTTP. Each way in that a
 * web page or another local user could use is refused with its own code.
 */
describe('API security', () => {
  let node: MeshsyncNode
  let addr = ''
  let key = ''
  const json = { 'content-type': 'application/json' }
  const purge = JSON.stringify({ all: true })

  beforeAll(async () => {
    node = await startNode({ name: 'sec' })
    addr = node.apiAddress!
    key = node.apiKey
  })
  afterAll(() => stopAll([node]))

  it('creates the key at first start, mode 0600, and records the node for the CLI', () => {
    expect(key).toMatch(/^[A-Za-z0-9_-]{40,}$/)
    expect(statSync(join(node.layout.stateDir, 'api.key')).mode & 0o777).toBe(0o600)
    expect(findRunningNode(addr)?.key).toBe(key)
  })

  it('no key: a mutating route is refused', async () => {
    const r = await http(addr, 'POST', '/quarantine/purge', { headers: json, body: purge })
    expect(r.status).toBe(401)
    expect(r.json().code).toBe('ERR_NO_KEY')
    expect(r.json().error).toMatch(/needs the API key/)
  })

  it('wrong key: refused', async () => {
    const r = await http(addr, 'POST', '/quarantine/purge', { headers: { ...json, authorization: 'Bearer nope' }, body: purge })
    expect(r.status).toBe(401)
    expect(r.json().code).toBe('ERR_BAD_KEY')
  })

  it('a text/plain POST (a cross-site form) is refused, even with the key', async () => {
    const r = await http(addr, 'POST', '/quarantine/purge', { headers: { 'content-type': 'text/plain', authorization: `Bearer ${key}` }, body: purge })
    expect(r.status).toBe(415)
    expect(r.json().code).toBe('ERR_CONTENT_TYPE')
    expect(r.json().error).toMatch(/application\/json/)
  })

  it('a foreign Origin is refused, even with the key', async () => {
    const r = await http(addr, 'POST', '/quarantine/purge', { headers: { ...json, authorization: `Bearer ${key}`, origin: 'http://evil.example' }, body: purge })
    expect(r.status).toBe(403)
    expect(r.json().code).toBe('ERR_ORIGIN')
    const site = await http(addr, 'POST', '/quarantine/purge', { headers: { ...json, authorization: `Bearer ${key}`, 'sec-fetch-site': 'cross-site' }, body: purge })
    expect(site.json().code).toBe('ERR_ORIGIN')
  })

  it('a request target that is no URL (`//`, `/\\`) gets 400 and the node stays up', async () => {
    for (const target of ['//', '/\\', '//@']) {
      const status = await new Promise<string>((resolve, reject) => {
        const [host, port] = addr.split(':')
        const sock = createConnection(Number(port), host!, () => sock.write(`GET ${target} HTTP/1.1\r\nHost: ${addr}\r\nConnection: close\r\n\r\n`))
        let got = ''
        sock.on('data', (d) => {
          got += d.toString()
        })
        sock.on('end', () => resolve(got.split('\r\n')[0] ?? ''))
        sock.on('error', reject)
      })
      expect(status, target).toBe('HTTP/1.1 400 Bad Request')
    }
    expect((await http(addr, 'GET', '/health')).status).toBe(200)
  })

  it('a rebinding Host header is refused, reads included', async () => {
    const r = await http(addr, 'GET', '/status', { headers: { host: `evil.example:${addr.split(':')[1]}` } })
    expect(r.status).toBe(421)
    expect(r.json().code).toBe('ERR_HOST')
    expect(r.json().error).toMatch(/evil\.example.*api\.allowedHosts/)
    for (const h of [`localhost:1`, `127.0.0.1:1`, `[::1]:1`]) expect((await http(addr, 'GET', '/health', { headers: { host: h } })).status).toBe(200)
  })

  it('the right key, JSON and our own Origin: the change is made; reads on loopback need no key', async () => {
    const r = await http(addr, 'POST', '/quarantine/purge', { headers: { ...json, authorization: `Bearer ${key}`, origin: `http://${addr}` }, body: purge })
    expect(r.status).toBe(200)
    expect((await http(addr, 'GET', '/status')).status).toBe(200)
  })

  it('a body over 1 MiB is refused with 413', async () => {
    const r = await http(addr, 'POST', '/fetch', { headers: { ...json, authorization: `Bearer ${key}` }, body: Buffer.alloc(1024 * 1024 + 1, 0x20) })
    expect(r.status).toBe(413)
    expect(r.json().code).toBe('ERR_TOO_LARGE')
  })

  it('dashboard session: login sets an HttpOnly SameSite=Strict cookie; changes need the CSRF token', async () => {
    const login = await http(addr, 'POST', '/auth/login', { headers: json, body: JSON.stringify({ key }) })
    expect(login.status).toBe(200)
    const cookie = String(login.headers['set-cookie']).split(';')[0]!
    expect(String(login.headers['set-cookie'])).toMatch(/HttpOnly; SameSite=Strict/)
    const csrf = login.json().csrf as string
    const without = await http(addr, 'POST', '/quarantine/purge', { headers: { ...json, cookie }, body: purge })
    expect(without.status).toBe(403)
    expect(without.json().code).toBe('ERR_CSRF')
    const wrong = await http(addr, 'POST', '/quarantine/purge', { headers: { ...json, cookie, 'x-csrf-token': 'x' }, body: purge })
    expect(wrong.json().code).toBe('ERR_CSRF')
    const ok = await http(addr, 'POST', '/quarantine/purge', { headers: { ...json, cookie, 'x-csrf-token': csrf }, body: purge })
    expect(ok.status).toBe(200)
    const session = await http(addr, 'GET', '/auth/session', { headers: { cookie } })
    expect(session.json()).toEqual({ authenticated: true, csrf })
    // a session cannot mint dashboard links
    expect((await http(addr, 'POST', '/auth/token', { headers: { ...json, cookie, 'x-csrf-token': csrf }, body: '{}' })).status).toBe(401)
  })

  it('the one-time token of `meshsync dashboard` is exchanged for a session once', async () => {
    const t = await http(addr, 'POST', '/auth/token', { headers: { ...json, authorization: `Bearer ${key}` }, body: '{}' })
    const token = t.json().token as string
    const first = await http(addr, 'POST', '/auth/exchange', { headers: json, body: JSON.stringify({ token }) })
    expect(first.status).toBe(200)
    expect(String(first.headers['set-cookie'])).toMatch(/HttpOnly; SameSite=Strict/)
    const again = await http(addr, 'POST', '/auth/exchange', { headers: json, body: JSON.stringify({ token }) })
    expect(again.status).toBe(401)
    expect(again.json().code).toBe('ERR_BAD_TOKEN')
  })

  it('failed logins are rate limited per address', async () => {
    const codes: number[] = []
    for (let i = 0; i < 7; i++) codes.push((await http(addr, 'POST', '/auth/login', { headers: json, body: JSON.stringify({ key: `guess-${i}` }) })).status)
    expect(codes.slice(0, 5)).toEqual([401, 401, 401, 401, 401])
    expect(codes.slice(5)).toEqual([429, 429])
    // even the right key waits out the minute
    const r = await http(addr, 'POST', '/auth/login', { headers: json, body: JSON.stringify({ key }) })
    expect(r.status).toBe(429)
    expect(r.json().code).toBe('ERR_RATE_LIMITED')
  })

  it('the CLI works with no key flags on the node’s own host, and a wrong --api-key is refused', async () => {
    const ok = await meshsync(['quarantine', 'purge', '--all', '--api', addr, '--json'])
    expect(ok.stderr).toBe('')
    expect(ok.code).toBe(0)
    const wrong = await meshsync(['quarantine', 'purge', '--all', '--api', addr, '--api-key', 'nope'])
    expect(wrong.code).toBe(1)
    expect(wrong.stderr).toMatch(/wrong API key/)
    const env = await meshsync(['quarantine', 'purge', '--all', '--api', addr], { MESHSYNC_API_KEY: key })
    expect(env.code).toBe(0)
    // every API command takes --api-key (merges did not: commander refused the option)
    const merges = await meshsync(['merges', '--api', addr, '--api-key', key, '--json'])
    expect(merges.stderr).toBe('')
    expect(merges.code).toBe(0)
    // `meshsync dashboard` prints a link whose token logs a browser in, once
    const link = await meshsync(['dashboard', '--api', addr, '--json'])
    expect(link.code).toBe(0)
    const url = new URL((JSON.parse(link.stdout) as { url: string }).url)
    expect(url.host).toBe(addr)
    const ex = await http(addr, 'POST', '/auth/exchange', { headers: json, body: JSON.stringify({ token: url.searchParams.get('token') }) })
    expect(ex.status).toBe(200)
  }, 60_000)
})

describe('API beyond loopback', () => {
  it('refuses to start without TLS, saying what to set', async () => {
    await expect(startNode({ name: 'wide', settings: { 'api.listen': '0.0.0.0:0' } })).rejects.toThrow(/beyond loopback.*api\.tls\.cert.*api\.insecure: true/)
  })

  it('with api.insecure: reads need the key too', async () => {
    const node = await startNode({ name: 'wide-insecure', settings: { 'api.listen': '0.0.0.0:0', 'api.insecure': true } })
    try {
      const addr = `127.0.0.1:${node.apiAddress!.split(':').pop()}`
      const r = await http(addr, 'GET', '/status')
      expect(r.status).toBe(401)
      expect(r.json().code).toBe('ERR_NO_KEY')
      expect((await http(addr, 'GET', '/status', { headers: { authorization: `Bearer ${node.apiKey}` } })).status).toBe(200)
      expect((await http(addr, 'GET', '/health')).status).toBe(200)
    } finally {
      await stopAll([node])
    }
  })

  it('with api.tls.selfSigned: serves HTTPS with a certificate made at first start', async () => {
    const node = await startNode({ name: 'wide-tls', settings: { 'api.listen': '0.0.0.0:0', 'api.tls.selfSigned': true } })
    try {
      const addr = `127.0.0.1:${node.apiAddress!.split(':').pop()}`
      expect(node.apiTls?.fingerprint).toMatch(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/)
      const r = await http(addr, 'GET', '/status', { headers: { authorization: `Bearer ${node.apiKey}` }, tls: { ca: node.apiTls!.cert } })
      expect(r.status).toBe(200)
      expect(statSync(join(node.layout.stateDir, 'api-key.pem')).mode & 0o777).toBe(0o600)
      // the CLI on this host: HTTPS, the certificate pinned from the data dir, the key from the registry; no flags
      const cli = await meshsync(['status', '--api', addr, '--json'])
      expect(cli.stderr).toBe('')
      expect(JSON.parse(cli.stdout).peerId).toBe(node.peerId)
      const purge = await meshsync(['quarantine', 'purge', '--all', '--api', addr])
      expect(purge.code).toBe(0)
    } finally {
      await stopAll([node])
    }
  }, 60_000)
})
