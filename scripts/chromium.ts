/**
 * Launching Debian's Chromium for the app's browser tests and screenshots: never a downloaded browser, never
 * the network. SwiftShader gives WebGL without a GPU (--enable-unsafe-swiftshader: newer Chromium only falls
 * back to it when asked).
 */
import { mkdirSync } from 'node:fs';
import { chromium, type BrowserContext } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

/** A browser context on a fresh profile folder `userDataDir` (Playwright passes it as --user-data-dir). */
export async function launchChromium(userDataDir: string, viewport = { width: 1200, height: 760 }): Promise<BrowserContext> {
  mkdirSync(userDataDir, { recursive: true });
  return chromium.launchPersistentContext(userDataDir, {
    viewport,
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--enable-unsafe-swiftshader', '--use-angle=swiftshader',
    ],
  });
}
