/**
 * `--cache-to` on one store, `--cache-from` on an empty one, through the real CLI: registry (docker-registry) and a
 * local directory. The second build is fully cached with the same digest; a registry import downloads no layer
 * until a step needs one; a cache that cannot be read is a warning.
 */
import { strict as assert } from 'node:assert';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { makeFixtureRoot } from './helpers/busybox-fixture.js';
import { expectSuccess, runCli, runCommand } from './helpers/cli.js';
import { startRegistry, type RegistryServer } from './helpers/registry-server.js';
import { makeTempDir, removeTempDir } from './helpers/temp-root.js';

describe('cache export and import (--cache-to / --cache-from)', function () {
  this.timeout(180_000);
  let work = '';
  let registry: RegistryServer;
  let context = '';

  before(async () => {
    work = await makeTempDir('cache-transfer');
    registry = await startRegistry();
    context = path.join(work, 'ctx');
    await mkdir(context, { recursive: true });
    await writeFile(path.join(context, 'Dockerfile'), [
      'FROM busybox AS tools', 'RUN echo tool > /tool',
      'FROM busybox', 'COPY data.txt /', 'RUN cat /data.txt > /copy', 'COPY --from=tools /tool /tool', 'ENV DONE=1', '',
    ].join('\n'));
    await writeFile(path.join(context, 'data.txt'), `transfer ${Date.now()}\n`);
  });
  after(async () => {
    await registry?.stop();
    await removeTempDir(work);
  });

  const cachedCount = (stderr: string): number => stderr.split('\n').filter((l) => /^#\d+ CACHED/.test(l)).length;
  const digestOf = (stdout: string): string => stdout.trim().split('\n').pop()!;

  for (const kind of ['registry', 'local'] as const) {
    it(`${kind}: export from one store, import into an empty one: fully cached, same digest`, async () => {
      const to = kind === 'registry' ? `type=registry,ref=${registry.host}/cache/app:main,mode=max` : `type=local,dest=${path.join(work, 'exported')},mode=max`;
      const from = kind === 'registry' ? `type=registry,ref=${registry.host}/cache/app:main` : `type=local,src=${path.join(work, 'exported')}`;
      const first = expectSuccess(await runCli(['build', '--progress=plain', '--cache-to', to, context], { root: await makeFixtureRoot(`ct-a-${kind}`, work) }), 'exporting build');
      assert.doesNotMatch(first.stderr, /WARNING/);
      const emptyRoot = await makeFixtureRoot(`ct-b-${kind}`, work);
      const second = expectSuccess(await runCli(['build', '--progress=plain', '--cache-from', from, context], { root: emptyRoot }), 'importing build');
      assert.equal(digestOf(second.stdout), digestOf(first.stdout));
      assert.equal(cachedCount(second.stderr), 4, second.stderr);
      if (kind === 'registry') {
        // Lazy: only busybox's layer is in the new store; the cached ones stay in the registry.
        const blobs = expectSuccess(await runCommand('ls', [path.join(emptyRoot, 'oci', 'blobs', 'sha256')]), 'ls').stdout.trim().split('\n');
        const manifest = JSON.parse(expectSuccess(await runCommand('cat', [path.join(emptyRoot, 'oci', 'blobs', 'sha256', digestOf(second.stdout).slice(7))]), 'cat').stdout) as { layers: { digest: string }[] };
        const missing = manifest.layers.filter((l) => !blobs.includes(l.digest.slice(7)));
        assert.equal(missing.length, manifest.layers.length - 1, 'every built layer is left in the cache registry');
      }
    });
  }

  it('mode=min exports only the final image stages; an unreadable --cache-from only warns', async () => {
    const to = `type=local,dest=${path.join(work, 'min')}`;
    expectSuccess(await runCli(['build', '--progress=plain', '--cache-to', to, context], { root: await makeFixtureRoot('ct-min', work) }), 'min export');
    const fresh = await makeFixtureRoot('ct-min-b', work);
    const second = expectSuccess(await runCli(['build', '--progress=plain', '--cache-from', `type=local,src=${path.join(work, 'min')}`, context], { root: fresh }), 'min import');
    // The final stage's three steps hit (COPY --from is keyed by the tools stage's key, which is the same); the
    // tools stage's RUN was not exported, so it runs.
    assert.equal(cachedCount(second.stderr), 3, second.stderr);
    const toolsId = second.stderr.split('\n').find((l) => l.includes('] RUN echo tool'))!.split(' ')[0];
    assert.ok(second.stderr.split('\n').some((l) => l.startsWith(`${toolsId} DONE`)), 'the tools RUN ran');
    const broken = await runCli(['build', '--progress=plain', '--cache-from', `type=registry,ref=${registry.host}/cache/none:x`, context], { root: fresh });
    expectSuccess(broken, 'build with a missing cache');
    assert.match(broken.stderr, /WARNING: --cache-from .*none:x.*building without it/);
    const bad = await runCli(['build', '--cache-to', 'type=s3,bucket=x', context], { root: fresh });
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /--cache-to: unsupported attribute bucket|unsupported type "s3"/);
  });
});
