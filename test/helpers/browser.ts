/**
 * Debian's Chromium (apt-get install chromium), driven by playwright-core: no browser download.
 * Collects every console error and page error of the pages it opens, for tests that assert none.
 */
import { chromium, type Browser, type Page } from 'playwright-core';

export const CHROMIUM = process.env.DOCKHAND_CHROMIUM ?? '/usr/bin/chromium';

export interface WatchedPage {
  readonly page: Page;
  /** Console messages of type error and uncaught page errors, in order. */
  readonly errors: string[];
}

export function launchChromium(): Promise<Browser> {
  // --no-sandbox: the test runs as root in a container, where Chromium's sandbox cannot start.
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-dev-shm-usage'] });
}

export async function watchedPage(browser: Browser, viewport = { width: 1400, height: 900 }): Promise<WatchedPage> {
  const page = await browser.newPage({ viewport });
  const errors: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(`console: ${message.text()} (${message.location().url})`);
  });
  page.on('pageerror', (error) => errors.push(`page error: ${error.message}`));
  return { page, errors };
}
