/**
 * The farm with a shared cache, end to end: `builder worker --cache-repo` processes, real Redis, real registry.
 * A commit built on one worker is fully cached on a fresh worker (empty store): same digest, no layer fetched,
 * and its push mounts the layers from the cache repository. Two workers given the same new commit at once run
 * each RUN once in the farm.
 */
import { strict as assert } from 'node:assert';
import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { AUTH, startHarness, tarOf, type Harness } from '../api/test-harness.js';

describe('farm shared cache (worker processes + Redis + registry)', function () {
  this.timeout(180_000);
  let h: Harness;
  let url = '';
  let registry = '';

  before(async () => {
    h = await startHarness({ registry: true });
    registry = h.registry!.host;
    url = await h.listen();
  });
  after(async () => h?.close());

  const post = async (tar: Buffer, tag: string): Promise<string> => {
    const response = await fetch(`${url}/v1/builds?t=${encodeURIComponent(tag)}&push=true`, {
      method: 'POST', headers: { ...AUTH, 'content-type': 'application/x-tar' }, body: new Uint8Array(tar),
    });
    const answer = (await response.json()) as { id: string; message?: string };
    assert.equal(response.status, 202, answer.message);
    return answer.id;
  };
  const stop = async (child: ChildProcess): Promise<void> => {
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  };
  const cacheEnv = (): Record<string, string> => ({ BUILDER_CACHE_REPO: `${registry}/farm/cache` });

  it('a fresh worker hits what another worker built: same digest, nothing fetched, push mounts the layers', async () => {
    const appText = `farm ${Date.now()}\n`;
    const tar = await tarOf({ Dockerfile: 'FROM busybox\nCOPY app.txt /\nRUN cat /app.txt > /copy\n', 'app.txt': appText });
    const first = await h.startWorker(cacheEnv());
    const built = await h.waitFor(await post(tar, `${registry}/farm/app:a`), ['succeeded', 'failed']);
    assert.equal(built.state, 'succeeded', JSON.stringify(built.error));
    await stop(first);
    const fresh = await h.startWorker(cacheEnv());
    const again = await h.waitFor(await post(tar, `${registry}/farm/app:b`), ['succeeded', 'failed']);
    assert.equal(again.state, 'succeeded', JSON.stringify(again.error));
    assert.equal(again.imageDigest, built.imageDigest);
    const steps = again.steps.filter((s) => /COPY|RUN/.test(s.name));
    assert.ok(steps.length === 2 && steps.every((s) => s.cached && s.builtBy === built.workers[0]), JSON.stringify(again.steps));
    assert.equal(again.cache?.bytesFetched, 0);
    assert.ok((again.cache?.hits.shared ?? 0) >= 2, JSON.stringify(again.cache));
    // The pushed image's built layers never came to the fresh worker's store: the push mounted them.
    const manifest = await (await fetch(`http://${registry}/v2/farm/app/manifests/b`, {
      headers: { accept: 'application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json' },
    })).json() as { layers: { digest: string }[] };
    for (const layer of manifest.layers.slice(1)) {
      assert.equal(existsSync(path.join(h.dir, 'worker-1', 'oci', 'blobs', 'sha256', layer.digest.slice(7))), false, `${layer.digest} was downloaded`);
    }
    // The worker saves the image in its own store after the record says succeeded (solver/export-image.ts); its job
    // ends after the save, so a SIGTERM drain completes it: the tag is there, its manifest and config match their digests.
    const drained = new Promise<number | null>((resolve) => fresh.once('exit', (code) => resolve(code)));
    fresh.kill('SIGTERM');
    assert.equal(await drained, 0, 'the worker drained and exited');
    const { Store } = await import('../builder/store/store.js');
    const { createHash } = await import('node:crypto');
    const store = await Store.open(path.join(h.dir, 'worker-1'));
    const saved = await store.resolve(`${registry}/farm/app:b`);
    assert.equal(saved?.manifestDescriptor.digest, again.imageDigest, 'the fresh worker tagged what it pushed');
    for (const digest of [saved!.manifestDescriptor.digest, saved!.manifest.config.digest]) {
      assert.equal(`sha256:${createHash('sha256').update(await store.readBlob(digest)).digest('hex')}`, digest);
    }

    // The farm also exported the records as an artifact: a laptop build with --cache-from hits them.
    const { mkdir, writeFile } = await import('node:fs/promises');
    const laptop = path.join(h.dir, 'laptop');
    await mkdir(laptop, { recursive: true });
    await writeFile(path.join(laptop, 'Dockerfile'), 'FROM busybox\nCOPY app.txt /\nRUN cat /app.txt > /copy\n');
    await writeFile(path.join(laptop, 'app.txt'), appText);
    const { makeFixtureRoot } = await import('./helpers/busybox-fixture.js');
    const { expectSuccess, runCli } = await import('./helpers/cli.js');
    const local = expectSuccess(await runCli(['build', '--progress=plain', '--cache-from', `type=registry,ref=${registry}/farm/cache:farm-app-b`, laptop],
      { root: await makeFixtureRoot('laptop', h.dir) }), 'laptop build');
    assert.equal(local.stdout.trim().split('\n').pop(), built.imageDigest, 'the same image');
    assert.equal(local.stderr.split('\n').filter((l) => /^#\d+ CACHED/.test(l)).length, 2, local.stderr);
    const { cacheTagFor } = await import('../worker/processor.js');
    assert.equal(cacheTagFor('registry:5000/org/app:main'), 'org-app-main');
    assert.equal(cacheTagFor('app:1.0'), 'app-1.0');
  });

  it('a fresh worker trusts the farm\'s fact that a commit is pushed, and when the fact is stale (a layer left the target) it still pushes a whole image', async () => {
    const tar = await tarOf({ Dockerfile: 'FROM busybox\nCOPY app.txt /\nRUN cat /app.txt > /copy\n', 'app.txt': `stale fact ${Date.now()}\n` });
    const tag = `${registry}/farm/stale:1`;
    const first = await h.startWorker(cacheEnv());
    const built = await h.waitFor(await post(tar, tag), ['succeeded', 'failed']);
    assert.equal(built.state, 'succeeded', JSON.stringify(built.error));
    await stop(first);
    // The farm's fact (cache/shared-held.ts) says farm/stale holds this manifest; the COPY's layer leaves it.
    const manifest = await (await fetch(`http://${registry}/v2/farm/stale/manifests/1`, {
      headers: { accept: 'application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json' },
    })).json() as { layers: { digest: string }[] };
    const { rm } = await import('node:fs/promises');
    await rm(path.join(h.registry!.storageDir, 'docker', 'registry', 'v2', 'repositories', 'farm', 'stale', '_layers', 'sha256', manifest.layers[1]!.digest.slice(7), 'link'));
    const fresh = await h.startWorker(cacheEnv());
    const again = await h.waitFor(await post(tar, tag), ['succeeded', 'failed']);
    assert.equal(again.state, 'succeeded', JSON.stringify(again.error));
    assert.equal(again.imageDigest, built.imageDigest);
    const { validateRegistryImage } = await import('./helpers/oci-validate.js');
    assert.deepEqual(await validateRegistryImage(registry, 'farm/stale', '1'), []);
    await stop(fresh);
  });

  it('a laptop\'s --cache-to into the cache repository is read by the farm for the same image tag', async () => {
    const { mkdir, writeFile } = await import('node:fs/promises');
    const { makeFixtureRoot } = await import('./helpers/busybox-fixture.js');
    const { expectSuccess, runCli } = await import('./helpers/cli.js');
    const appText = `laptop ${Date.now()}\n`;
    const dockerfile = 'FROM busybox\nCOPY app.txt /\nRUN cat /app.txt > /copy\n';
    const laptop = path.join(h.dir, 'laptop-to');
    await mkdir(laptop, { recursive: true });
    await writeFile(path.join(laptop, 'Dockerfile'), dockerfile);
    await writeFile(path.join(laptop, 'app.txt'), appText);
    const local = expectSuccess(await runCli(['build', '--progress=plain', '--cache-to', `type=registry,ref=${registry}/farm/cache:farm-app-c,mode=max`, laptop],
      { root: await makeFixtureRoot('laptop-to', h.dir) }), 'laptop build');
    const worker = await h.startWorker(cacheEnv());
    const record = await h.waitFor(await post(await tarOf({ Dockerfile: dockerfile, 'app.txt': appText }), `${registry}/farm/app:c`), ['succeeded', 'failed']);
    assert.equal(record.state, 'succeeded', JSON.stringify(record.error));
    assert.equal(record.imageDigest, local.stdout.trim().split('\n').pop(), 'the image the laptop built');
    assert.ok((record.cache?.hits.import ?? 0) >= 2, JSON.stringify(record.cache));
    await stop(worker);
  });

  it('two workers given the same new commit at once: each RUN runs once in the farm', async () => {
    const workers = await Promise.all([h.startWorker(cacheEnv()), h.startWorker(cacheEnv())]);
    const tar = await tarOf({ Dockerfile: `FROM busybox\nRUN sleep 2 && echo ${Date.now()} > /a\nRUN sleep 1 && cat /a > /b\n` });
    const ids = [await post(tar, `${registry}/farm/same:1`), await post(tar, `${registry}/farm/same:2`)];
    const records = await Promise.all(ids.map((id) => h.waitFor(id, ['succeeded', 'failed'])));
    for (const record of records) assert.equal(record.state, 'succeeded', JSON.stringify(record.error));
    assert.equal(records[0]!.imageDigest, records[1]!.imageDigest);
    for (const name of ['RUN sleep 2', 'RUN sleep 1']) {
      const outcomes = records.map((r) => r.steps.find((s) => s.name.includes(name))!);
      assert.equal(outcomes.filter((s) => s.state === 'done').length, 1, `${name} ran once: ${JSON.stringify(outcomes)}`);
    }
    for (const child of workers) await stop(child);
  });

  it('a worker with [worker] cache_gc_interval_s prunes blobs no record names (once per interval for the farm)', async () => {
    const tar = await tarOf({ Dockerfile: `FROM busybox\nRUN echo gc-${Date.now()} > /gc\n` });
    const maker = await h.startWorker(cacheEnv());
    const record = await h.waitFor(await post(tar, `${registry}/farm/gc:1`), ['succeeded', 'failed']);
    assert.equal(record.state, 'succeeded', JSON.stringify(record.error));
    await stop(maker);
    const manifest = await (await fetch(`http://${registry}/v2/farm/gc/manifests/1`, {
      headers: { accept: 'application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json' },
    })).json() as { layers: { digest: string }[] };
    const digest = manifest.layers.at(-1)!.digest;
    const inCache = async (): Promise<number> => (await fetch(`http://${registry}/v2/farm/cache/blobs/${digest}`, { method: 'HEAD' })).status;
    assert.equal(await inCache(), 200);
    // While the farm's artifact for farm/gc:1 names the blob, the GC keeps it: delete that artifact too.
    const artifact = await fetch(`http://${registry}/v2/farm/cache/manifests/farm-gc-1`, { method: 'HEAD', headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } });
    assert.equal(artifact.status, 200, 'the farm exported the build\'s records as an artifact');
    const deleted = await fetch(`http://${registry}/v2/farm/cache/manifests/${artifact.headers.get('docker-content-digest')}`, { method: 'DELETE' });
    assert.equal(deleted.status, 202);
    // The index forgets every record (as LRU eviction would); the blob is now garbage.
    const { Redis } = await import('ioredis');
    const redis = new Redis(h.redis.url);
    const keys = await redis.keys(`builder:cache:${registry}/farm/cache:rec:*`);
    if (keys.length > 0) await redis.del(...keys);
    await redis.quit();
    const collector = await h.startWorker({ ...cacheEnv(), BUILDER_CACHE_GC_INTERVAL_S: '1', BUILDER_GC_GRACE: '0s' });
    const deadline = Date.now() + 20_000;
    while ((await inCache()) !== 404) {
      assert.ok(Date.now() < deadline, 'the periodic GC deleted the unreferenced blob');
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    assert.equal((await fetch(`http://${registry}/v2/farm/gc/blobs/${digest}`, { method: 'HEAD' })).status, 200, 'the pushed image keeps its own copy');
    await stop(collector);
  });
});
