/**
 * The farm's web page in real headless Chromium against a real API, Redis and worker: sign in, watch a build
 * stream its log live, reload mid-build and drop the connection and see the log continue with no gap and no
 * line twice, cancel with the button, see a failed build's error line. Screenshots go to docs/.
 */
import { strict as assert } from 'node:assert';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { AUTH, startHarness, tarOf, type Harness } from '../api/test-harness.js';
import { mkdir, writeFile } from 'node:fs/promises';
import { cliMain, repoRoot } from './helpers/cli.js';
import { TmuxScreen, tmuxAvailable } from './helpers/tmux.js';
import { chromiumAvailable, launchBrowser, type Browser } from './helpers/browser.js';

const LINES = 14;
const SLOW = `FROM busybox\nRUN for i in $(seq 1 ${LINES}); do echo line-$i; sleep 0.4; done\n`;

describe('farm web page (headless Chromium, real API + worker)', function () {
  this.timeout(180_000);
  let h: Harness;
  let url: string;
  let browser: Browser;
  let page: Page;
  const blocked: string[] = [];

  before(async function () {
    if (process.getuid?.() !== 0) {
      console.log('      skipped: the worker builds with runc and needs root');
      this.skip();
    }
    if (!chromiumAvailable()) {
      console.log('      skipped: /usr/bin/chromium is missing (apt-get install chromium; scripts/setup.sh does)');
      this.skip();
    }
    h = await startHarness({ registry: true });
    url = await h.listen();
    await h.startWorker();
    browser = await launchBrowser();
    page = await browser.context.newPage();
    // Nothing but the API: any other request fails the test.
    await page.route('**/*', (route) => {
      if (route.request().url().startsWith(url)) return route.continue();
      blocked.push(route.request().url());
      return route.abort();
    });
  });
  after(async function () {
    await browser?.close();
    await h?.close();
  });

  const submit = async (files: Record<string, string>, query = 't=web/app:1'): Promise<string> => {
    const response = await fetch(`${url}/v1/builds?${query}`, {
      method: 'POST', headers: { ...AUTH, 'content-type': 'application/x-tar' }, body: new Uint8Array(await tarOf(files)),
    });
    const answer = (await response.json()) as { id: string; message?: string };
    assert.equal(response.status, 202, answer.message);
    return answer.id;
  };
  const logText = async (): Promise<string> => (await page.getByTestId('log').textContent()) ?? '';
  const waitForLog = async (text: string, timeout = 60_000): Promise<void> => {
    await page.waitForFunction((wanted) => document.querySelector('[data-testid=log]')?.textContent?.includes(wanted) ?? false, text, { timeout });
  };
  const numbered = (log: string): number[] => [...log.matchAll(/^#2 line-(\d+)$/gm)].map((m) => Number(m[1]));
  const screenshot = (name: string): Promise<Buffer> => page.screenshot({ path: path.join(repoRoot, 'docs', name), fullPage: true });

  it('signs in with a token kept in sessionStorage, never in the URL', async function () {
    await page.goto(url);
    await page.getByTestId('token').fill('wrong-token');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByTestId('sign-in-error').filter({ hasText: 'unknown or revoked API token' }).waitFor();
    await page.getByTestId('token').fill('ci-token');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByTestId('build-list').waitFor();
    await page.getByTestId('farm-status').filter({ hasText: '1 worker' }).waitFor();
    assert.ok(!page.url().includes('ci-token'));
    assert.equal(await page.evaluate(() => sessionStorage.getItem('builder.token')), 'ci-token');
  });

  it('streams a running build live, and continues after a reload and a dropped connection with no gap or duplicate', async function () {
    const id = await submit({ Dockerfile: SLOW }, `t=${h.registry!.host}/web/app:1&push=true`);
    await page.goto(`${url}/#/`);
    await page.locator(`tr[data-build="${id}"]`).waitFor();
    await page.goto(`${url}/#/builds/${id}`);
    await waitForLog('line-2');
    assert.equal(await page.getByTestId('state').textContent(), 'running');
    const before = numbered(await logText());
    assert.ok(before.length < LINES, 'seen while it runs');

    await page.reload();
    await waitForLog('line-5');
    await page.evaluate(() => (window as unknown as { builderTestHooks: { dropStream?: () => void } }).builderTestHooks.dropStream?.());
    await waitForLog('build finished');
    const reconnects = await page.evaluate(() => (window as unknown as { builderTestHooks: { reconnects: number } }).builderTestHooks.reconnects);
    assert.ok(reconnects >= 1, 'the stream was dropped and resumed');
    assert.deepEqual(numbered(await logText()), Array.from({ length: LINES }, (_, i) => i + 1), 'every line once, in order');
    await page.getByTestId('state').filter({ hasText: 'succeeded' }).waitFor();
    assert.equal(await page.getByTestId('trigger').textContent(), 'api (ci)');
    await page.getByTestId('pushed').filter({ hasText: `${h.registry!.host}/web/app:1@sha256:` }).waitFor();
    assert.match((await page.getByTestId('steps').textContent()) ?? '', /cache miss: no earlier build of this step/);
    assert.equal(await page.locator('.step .step-bar').count(), 2);
    await page.getByTestId('queue-depth').filter({ hasText: '0 running' }).waitFor();
    await screenshot('farm-build-page.png');
  });

  it('cancels a running build with the button', async function () {
    const id = await submit({ Dockerfile: 'FROM busybox\nRUN echo started; sleep 60\n' });
    await page.goto(`${url}/#/builds/${id}`);
    await waitForLog('#2 started');
    await page.getByTestId('cancel').click();
    await page.getByTestId('state').filter({ hasText: 'cancelled' }).waitFor({ timeout: 20_000 });
    assert.match((await page.getByTestId('error').textContent()) ?? '', /CANCELLED/);
    assert.ok(await page.getByTestId('cancel').isDisabled());
  });

  it('shows a failed build with its error and Dockerfile line, and the list updates live', async function () {
    await page.goto(`${url}/#/`);
    await page.getByTestId('build-list').waitFor();
    const id = await submit({ Dockerfile: 'FROM busybox\nRUN echo fine\nRUN echo broken && exit 3\n' });
    // No navigation: the open list shows the new build and then its failure.
    await page.locator(`tr[data-build="${id}"].state-failed`).waitFor({ timeout: 60_000 });
    await page.locator(`tr[data-build="${id}"] a`).click();
    await page.getByTestId('error-line').filter({ hasText: 'Dockerfile:3:' }).waitFor({ timeout: 60_000 });
    assert.match((await page.getByTestId('error').textContent()) ?? '', /RUN_FAILED.*exit code: 3/);
    assert.match(await logText(), /^#3 broken$/m);

    await page.goto(`${url}/#/`);
    await page.locator('tr.state-failed').first().waitFor();
    const rows = page.locator('tr[data-build]');
    assert.equal(await rows.count(), 3);
    assert.match((await page.locator('tr.state-succeeded').textContent()) ?? '', /upload.*\/web\/app:1.*api \(ci\).*\d+\.\ds.*0 cached \/ 2 run/);
    await screenshot('farm-build-list.png');
    assert.deepEqual(blocked, [], 'the page asked for nothing but the API');
  });

  it('builder build --remote shows the same live terminal view', async function () {
    if (!tmuxAvailable()) {
      console.log('      skipped: tmux is not installed');
      this.skip();
    }
    const dir = path.join(h.dir, 'remote-tty');
    await mkdir(dir, { recursive: true });
    await writeFile(path.join(dir, 'Dockerfile'), 'FROM busybox\nRUN for i in 1 2 3; do echo remote-$i; sleep 0.5; done\n');
    const screen = await TmuxScreen.start(`node ${cliMain} build --remote ${url} --token ci-token ${dir}`, 100, 30, { BUILDER_ROOT: path.join(h.dir, 'remote-cli-root') });
    try {
      await screen.waitFor((s) => s.includes('# remote-1'), 'the live output tail');
      const last = await screen.waitFor((s) => s.includes('[exit 0]'), 'the remote build');
      assert.match(last, /^\[\+\] Building \d+\.\ds \(2\/2\) FINISHED$/m);
      assert.match(last, /^ => \[2\/2\] RUN for i in 1 2 3; do echo remote-\$i; sleep 0\.5; done\s+\d+\.\ds$/m);
    } finally {
      await screen.stop();
    }
  });
});
