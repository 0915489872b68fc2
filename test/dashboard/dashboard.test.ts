import { randomBytes } from 'node:crypto'
import { copyFile, mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { MeshsyncNode } from '../../src/node.js'
import { FIXTURES } from '../helpers/fixtures.js'
import { startNode, stopAll, waitFor } from '../helpers/cluster.js'
import { REPLICATION_FAST, sha256Of } from '../replication/support.js'
import { type Browser, haveChromium, loginUrl, openBrowser, SCREENSHOTS } from './browser.js'

if (!haveChromium) console.warn('dashboard browser tests skipped: /usr/bin/chromium missing (apt-get install chromium; .ci/run does)')

/**
 * The dashboard of a real 3-node cluster in Debian's headless chromium:
 * nodes, a file's copies rising, a node going down (verdict red, then green
 * after repair), a fetch with a moving progress bar, quarantine release, and
 * no console errors. Screenshots go to a temp dir (docs/screenshots/ with
 * MESHSYNC_UPDATE_SCREENSHOTS=1).
 */
describe.skipIf(!haveChromium)('dashboard in a browser', () => {
  let a: MeshsyncNode
  let b: MeshsyncNode
  let c: MeshsyncNode
  let browser: Browser
  const shot = (name: string) => browser.page.screenshot({ path: join(SCREENSHOTS, name) })
  const settings = {
    ...REPLICATION_FAST,
    // this shared machine's load average must not stop replication
    'replication.backpressureLoad': 1000,
    'replication.downGraceSeconds': 2,
    'alerts.underMinGraceSeconds': 1,
    'policies.solo.match.globs': ['solo/**'],
    'policies.solo.minCopies': 1,
    'policies.solo.maxCopies': 1,
    'policies.data.minCopies': 2,
    'policies.data.maxCopies': 2,
  }

  beforeAll(async () => {
    // a's downloads are capped so the dashboard's fetch takes a few seconds (a progress bar to watch)
    a = await startNode({ name: 'alpha', settings: { ...settings, 'bandwidth.download': 1_000_000 } })
    // ...and the others' too, so a repair lasts longer than the page's 2 s poll (the red verdict is seen)
    const others = await Promise.all(['bravo', 'charlie'].map((name) => startNode({ name, bootstrap: [a.addresses[0]!], settings: { ...settings, 'bandwidth.download': 1_000_000 } })))
    b = others[0]!
    c = others[1]!
    browser = await openBrowser()
    await mkdir(SCREENSHOTS, { recursive: true })
  }, 60_000)
  afterAll(async () => {
    await browser?.close()
    await stopAll([a, b, c])
  })

  const row = (name: string) => browser.page.locator(`#nodes tr[data-node="${name}"]`)

  it('shows all three nodes, up', async () => {
    await browser.page.goto(await loginUrl(a.apiAddress!, a.apiKey))
    for (const n of ['alpha', 'bravo', 'charlie']) await row(n).and(browser.page.locator('[data-state="up"]')).waitFor({ timeout: 30_000 })
    expect(await browser.page.locator('#session').isVisible()).toBe(true)
    expect(await browser.page.locator('#verdict').getAttribute('data-ok')).toBe('true')
  }, 60_000)

  let sha = ''
  let killed: MeshsyncNode | undefined
  it('a file added on one node appears, its copies rising to the minimum', async () => {
    const data = randomBytes(5_000_000)
    sha = sha256Of(data)
    await writeFile(join(a.layout.dataDir, 'run1.bin'), data)
    await a.rescan()
    const r = browser.page.locator('#files tr[data-path="run1.bin"]')
    await r.waitFor({ timeout: 30_000 })
    await browser.page.locator('#files tr[data-path="run1.bin"][data-copies="2"]').waitFor({ timeout: 30_000 })
    await shot('dashboard-desktop.png')
  }, 60_000)

  it('a killed holder turns down, the verdict turns red while the file is under its minimum, green after repair', async () => {
    const other = [b, c].find((n) => n.manifest.has(sha))!
    killed = other
    const name = other.config.node.name!
    await other.stop()
    await row(name).and(browser.page.locator('[data-state="down"]')).waitFor({ timeout: 30_000 }).catch(async (e) => {
      throw new Error(`${e.message}\nverdict: ${await browser.page.locator('#verdict').textContent()}\nnodes: ${await browser.page.locator('#nodes').textContent()}\nerrors: ${browser.errors.join('\n')}`)
    })
    await row(name).and(browser.page.locator('[data-state="down"]')).waitFor({ timeout: 30_000 })
    await browser.page.locator('#verdict[data-ok="false"]').waitFor({ timeout: 30_000 })
    expect(await browser.page.locator('#verdict').textContent()).toMatch(/file\(s\) under their minimum .* at risk .*only copy on alpha \(1\)$/)
    await shot('dashboard-red.png')
    await browser.page.locator('#verdict[data-ok="true"]').waitFor({ timeout: 60_000 })
    expect(await browser.page.locator('#files tr[data-path="run1.bin"]').getAttribute('data-copies')).toBe('2')
  }, 120_000)

  it('a fetch started from the dashboard shows a moving progress bar and lands', async () => {
    // the node still up besides alpha
    const src = [b, c].find((n) => n !== killed)!
    const data = randomBytes(16 * 1024 * 1024)
    const bigSha = sha256Of(data)
    await mkdir(join(src.layout.dataDir, 'solo'), { recursive: true })
    await writeFile(join(src.layout.dataDir, 'solo', 'big.bin'), data)
    await src.rescan()
    await browser.page.locator('#files tr[data-path="solo/big.bin"]').waitFor({ timeout: 30_000 })
    await browser.page.fill('#fetch-sha', bigSha)
    const t0 = Date.now()
    await browser.page.click('#fetch-form button')
    const bar = browser.page.locator(`#transfers .transfer[data-sha="${bigSha}"] [role="progressbar"]`)
    const seen = new Set<number>()
    await waitFor(
      'the progress bar moves',
      async () => {
        const v = Number(await bar.getAttribute('aria-valuenow', { timeout: 1000 }).catch(() => 'NaN'))
        if (v > 0 && v < 100) seen.add(v)
        return seen.size >= 2
      },
      60_000,
      300,
    ).catch(async (e) => {
      throw new Error(`${e.message}; seen ${[...seen]}; msg: ${await browser.page.locator('#action-msg').textContent()}; transfers: ${await browser.page.locator('#transfers').textContent()}; landed: ${a.manifest.has(bigSha)}; a transfers: ${JSON.stringify(a.transfers.list())}`)
    })
    await waitFor('landed on alpha', () => a.manifest.has(bigSha), 60_000)
    console.log(`dashboard fetch of 16 MiB landed after ${Date.now() - t0} ms; progress values seen: ${[...seen].join(', ')}`)
    await browser.page.locator('#files tr[data-path="solo/big.bin"] td:last-child', { hasText: 'alpha' }).waitFor({ timeout: 30_000 })
  }, 120_000)

  it('quarantine release works behind a confirmation', async () => {
    await copyFile(join(FIXTURES, 'npz', 'truncated.npz'), join(a.layout.dataDir, 'broken.npz'))
    await a.rescan()
    const q = browser.page.locator('#quarantine tr[data-path="broken.npz"]')
    await q.waitFor({ timeout: 30_000 })
    await q.locator('button', { hasText: 'Release' }).click()
    await browser.page.locator('#confirm[open]').waitFor()
    await browser.page.click('#confirm-ok')
    await q.waitFor({ state: 'detached', timeout: 15_000 })
    expect(await browser.page.locator('#action-msg').textContent()).toMatch(/released to broken\.npz/)
    await waitFor('the file is back', () => a.quarantine.list(true).some((r) => r.path === 'broken.npz' && r.state === 'released'))
  }, 60_000)

  it('keyboard and phone width; no console errors', async () => {
    await browser.page.keyboard.press('Tab')
    expect(await browser.page.evaluate('document.activeElement?.tagName')).toMatch(/BUTTON|INPUT|SELECT/)
    await browser.page.setViewportSize({ width: 390, height: 844 })
    await browser.page.evaluate('window.scrollTo(0, 0)')
    await new Promise((r) => setTimeout(r, 500))
    const overflow = Number(await browser.page.evaluate('document.documentElement.scrollWidth - window.innerWidth'))
    expect(overflow).toBeLessThanOrEqual(0)
    await shot('dashboard-phone.png')
    expect(browser.errors).toEqual([])
  }, 30_000)
})
