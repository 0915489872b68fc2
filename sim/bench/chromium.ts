import { type BrowserContext, chromium } from 'playwright-core'

/** Debian's chromium package; nothing downloads a browser. .ci/run installs it. */
export const CHROMIUM = '/usr/bin/chromium'

/** Headless chromium on `profile` (a fresh temp dir), quiet: no QUIC, sync or background fetches (the dashboard bench and test). */
export function launchChromium(profile: string): Promise<BrowserContext> {
  return chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 1280, height: 800 },
  })
}
