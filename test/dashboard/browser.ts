import { existsSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { BrowserContext, Page } from 'playwright-core'
import { CHROMIUM, launchChromium } from '../../sim/bench/chromium.js'

export { CHROMIUM }
export const haveChromium = existsSync(CHROMIUM)
/**
 * Where the dashboard test saves its screenshots: a temp dir, so a test run
 * leaves the tracked docs/screenshots/ alone; MESHSYNC_UPDATE_SCREENSHOTS=1
 * writes them there, to refresh the README's pictures.
 */
export const SCREENSHOTS =
  process.env.MESHSYNC_UPDATE_SCREENSHOTS === '1' ? join(import.meta.dirname, '..', '..', 'docs', 'screenshots') : join(tmpdir(), `meshsync-screenshots-${process.pid}`)

export interface Browser {
  context: BrowserContext
  page: Page
  /** Console errors and uncaught page errors seen so far. */
  errors: string[]
  close(): Promise<void>
}

/** Headless chromium with a fresh profile, collecting console errors. */
export async function openBrowser(): Promise<Browser> {
  const profile = await mkdtemp(join(tmpdir(), 'meshsync-chromium-'))
  const context = await launchChromium(profile)
  const page = context.pages()[0] ?? (await context.newPage())
  const errors: string[] = []
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(`console: ${m.text()}`)
  })
  page.on('pageerror', (e) => errors.push(`page: ${e.message}`))
  return {
    context,
    page,
    errors,
    async close() {
      await context.close().catch(() => {})
      await rm(profile, { recursive: true, force: true })
    },
  }
}

/** A one-time login link for a node's dashboard, as `meshsync dashboard` prints it. */
export async function loginUrl(api: string, key: string): Promise<string> {
  const res = await fetch(`http://${api}/auth/token`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` }, body: '{}' })
  const { token } = (await res.json()) as { token: string }
  return `http://${api}/?token=${encodeURIComponent(token)}`
}
