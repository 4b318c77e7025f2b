/**
 * Layer blobs compressed behind the steps (exec/commit.ts): whatever the build's outcome, it ends with every blob
 * complete (named by its sha256) or absent, no temp blob left in tmp/, and every cache record naming a blob that is
 * there; a step whose blob was still compressing when a later step failed is cached for the next build.
 */
import { strict as assert } from 'node:assert';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { makeFixtureRoot } from './helpers/busybox-fixture.js';
import { expectSuccess, runCli } from './helpers/cli.js';
import { validateLayout } from './helpers/oci-validate.js';
import { makeTempDir, removeTempDir } from './helpers/temp-root.js';

async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

describe('background layer compression', function () {
  this.timeout(120_000);
  let scratch = '';
  let root = '';
  let context = '';

  const dockerfile = (last: string): string =>
    // ~60 MB of text: its gzip takes a while after the step, and the failing COPY fails at once, before it is done.
    `FROM busybox\nRUN echo small > /small\nRUN seq 1 8000000 > /numbers\n${last}\n`;

  /** The store holds no half-written blob, no temp blob, and no record naming a missing blob. */
  async function assertWhole(): Promise<void> {
    const blobsDir = path.join(root, 'oci', 'blobs', 'sha256');
    const blobs = await readdir(blobsDir);
    for (const name of blobs) assert.equal(await sha256File(path.join(blobsDir, name)), name, `blob ${name} is whole`);
    const temps = (await readdir(path.join(root, 'tmp')).catch(() => [] as string[])).filter((name) => name.startsWith('layer-'));
    assert.deepEqual(temps, [], 'no temp layer blob is left behind');
    for (const name of (await readdir(path.join(root, 'cache'))).filter((n) => n.endsWith('.json'))) {
      const record = JSON.parse(await readFile(path.join(root, 'cache', name), 'utf8')) as { layer?: { digest: string } };
      if (record.layer) assert.ok(blobs.includes(record.layer.digest.slice('sha256:'.length)), `record ${name} names a blob in the store`);
    }
  }

  before(async function () {
    if (process.getuid?.() !== 0) {
      console.log('      background compression SKIPPED: needs root (runc, overlayfs)');
      this.skip();
    }
    scratch = await makeTempDir('bg-compress-scratch');
    root = await makeFixtureRoot('bg-compress-root', scratch);
    context = path.join(scratch, 'context');
    await mkdir(context, { recursive: true });
  });
  after(async function () {
    if (root) await removeTempDir(root);
    if (scratch) await removeTempDir(scratch);
  });

  it('a later step failing leaves the earlier layers whole and cached', async function () {
    await writeFile(path.join(context, 'Dockerfile'), dockerfile('COPY missing.txt /'));
    const failed = await runCli(['build', '--progress=plain', '-t', 'bg', context], { root });
    assert.equal(failed.code, 1, failed.stderr);
    assert.match(failed.stderr, /missing\.txt/);
    await assertWhole();
    await writeFile(path.join(context, 'missing.txt'), 'here now\n');
    const built = expectSuccess(await runCli(['build', '--progress=plain', '-t', 'bg', context], { root }), 'build after the fix');
    assert.equal((built.stderr.match(/CACHED/g) ?? []).length, 2, `the two RUNs before the failure are cached:\n${built.stderr}`);
    await assertWhole();
    assert.deepEqual(await validateLayout(path.join(root, 'oci')), []);
  });

  it('a build that finishes with a big layer last names only complete blobs, and rebuilds to the same digest', async function () {
    await writeFile(path.join(context, 'Dockerfile'), 'FROM busybox\nRUN head -c 24m /dev/urandom > /r1 && seq 1 2000000 > /t1\n');
    const first = expectSuccess(await runCli(['build', '-q', '--no-cache', '--build-arg', 'SOURCE_DATE_EPOCH=1700000000', '-t', 'big', context], { root }), 'big build');
    await assertWhole();
    const again = expectSuccess(await runCli(['build', '-q', '--build-arg', 'SOURCE_DATE_EPOCH=1700000000', '-t', 'big', context], { root }), 'cached rebuild');
    assert.equal(again.stdout.trim(), first.stdout.trim());
    assert.deepEqual(await validateLayout(path.join(root, 'oci')), []);
  });
});
