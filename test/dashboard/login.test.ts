import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { MeshsyncNode } from '../../src/node.js'
import { startNode, stopAll } from '../helpers/cluster.js'
import { type Browser, haveChromium, openBrowser } from './browser.js'

/** A node listening beyond loopback: the page asks for the key before it reads anything, and a wrong key says so. */
describe.skipIf(!haveChromium)('dashboard login beyond loopback', () => {
  let node: MeshsyncNode
  let browser: Browser
  beforeAll(async () => {
    node = await startNode({ name: 'wide-dash', settings: { 'api.listen': '0.0.0.0:0', 'api.insecure': true } })
    browser = await openBrowser()
  }, 60_000)
  afterAll(async () => {
    await browser?.close()
    await stopAll([node])
  })

  it('logs in with the key through the form; the session cookie then reads and changes', async () => {
    const page = browser.page
    await page.goto(`http://127.0.0.1:${node.apiAddress!.split(':').pop()}/`)
    await page.locator('#login-key').waitFor()
    expect(await page.locator('#verdict').textContent()).toMatch(/log in with the API key/)
    await page.fill('#login-key', 'not-the-key')
    await page.click('#login button[type="submit"]')
    await page.locator('#login-msg', { hasText: 'wrong API key' }).waitFor()
    // the 401 of that wrong login is the one console error expected here
    const errors = browser.errors.filter((e) => !/401/.test(e))
    await page.fill('#login-key', node.apiKey)
    await page.click('#login button[type="submit"]')
    await page.locator('#nodes tr[data-node="wide-dash"]').waitFor({ timeout: 30_000 })
    expect(await page.locator('#session').isVisible()).toBe(true)
    expect(await page.locator('#login').isVisible()).toBe(false)
    await page.fill('#fetch-sha', 'ab'.repeat(32))
    await page.click('#fetch-form button')
    // the change reached the node with the session and its CSRF token: the node's own answer comes back
    await page.locator('#action-msg', { hasText: 'fetch failed: ' }).waitFor()
    expect(await page.locator('#action-msg').textContent()).not.toMatch(/API key|CSRF/)
    expect([...errors, ...browser.errors.filter((e) => !/40[14]/.test(e))]).toEqual([])
  }, 60_000)
})
