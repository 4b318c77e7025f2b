/**
 * Real headless Chromium (Debian's) driven by playwright-core, with everything that would reach beyond the
 * machine switched off: no QUIC, no background networking, no component updates, no sync, a fresh profile.
 */
import { existsSync } from 'node:fs';
import { chromium, type BrowserContext } from 'playwright-core';
import { makeTempDir, removeTempDir } from './temp-root.js';

export const CHROMIUM = '/usr/bin/chromium';

export function chromiumAvailable(): boolean {
  return existsSync(CHROMIUM);
}

export interface Browser {
  context: BrowserContext;
  close(): Promise<void>;
}

export async function launchBrowser(): Promise<Browser> {
  // An empty --user-data-dir: playwright takes it as the persistent context's directory.
  const profile = await makeTempDir('chromium-profile');
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1280, height: 860 },
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
  return {
    context,
    async close() {
      await context.close().catch(() => undefined);
      await removeTempDir(profile);
    },
  };
}
