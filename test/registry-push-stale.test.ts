/**
 * A push whose knowledge of the target went stale before its manifest PUT, against a real docker-registry: its HEAD
 * found a layer in the target repository, then the layer left it (its link removed from the registry's storage,
 * between the HEADs and the PUT). The PUT's MANIFEST_BLOB_UNKNOWN makes the push HEAD every blob again and upload
 * what is missing (builder/registry/push.ts), and the pushed image is whole. This is the fallback any trusted fact
 * about the target (a HEAD sent early, a farm-wide "blob D is in repo P" record) would lean on.
 */
import { strict as assert } from 'node:assert';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { emptyConfig } from '../builder/config.js';
import { pushBuiltImage, pushImage, type PushableImage } from '../builder/registry/push.js';
import { Store } from '../builder/store/store.js';
import { loadBusyboxFixture } from './helpers/busybox-fixture.js';
import { expectSuccess, runCli } from './helpers/cli.js';
import { startRegistry, type RegistryServer } from './helpers/registry-server.js';
import { validateRegistryImage } from './helpers/oci-validate.js';
import { makeTempDir, removeTempDir } from './helpers/temp-root.js';

describe('push with stale knowledge of the target (real docker-registry)', function () {
  this.timeout(120_000);
  let work: string;
  let root: string;
  let registry: RegistryServer;

  before(async function () {
    work = await makeTempDir('push-stale');
    root = path.join(work, 'root');
    await loadBusyboxFixture(root, work);
    registry = await startRegistry();
  });
  after(async function () {
    await registry?.stop();
    await removeTempDir(work);
  });

  it('a layer found by the HEAD but gone before the manifest PUT is uploaded again, and the image is whole', async function () {
    const dir = path.join(work, 'ctx');
    await mkdir(dir, { recursive: true });
    await writeFile(path.join(dir, 'Dockerfile'), 'FROM busybox\nRUN echo stale > /stale\n');
    expectSuccess(await runCli(['build', '-t', 'stale:1', dir], { root }), 'build');
    const store = await Store.open(root);
    const resolved = await store.resolve('stale:1');
    assert.ok(resolved);
    const image: PushableImage = { manifest: resolved.manifest, manifestBytes: await store.readBlob(resolved.manifestDescriptor.digest), mediaType: resolved.manifestDescriptor.mediaType };
    const config = emptyConfig();
    await pushImage(store, 'stale:1', `${registry.host}/stale/app:1`, { config });

    const layer = image.manifest.layers.at(-1)!.digest;
    const link = path.join(registry.storageDir, 'docker', 'registry', 'v2', 'repositories', 'stale', 'app', '_layers', 'sha256', layer.slice('sha256:'.length), 'link');
    const heads = new Map<string, number | undefined>();
    const pushed = await pushBuiltImage(store, image, `${registry.host}/stale/app:2`, {
      config, blobsWritten: Promise.resolve(), sources: new Map(),
      // The first answer per blob (the second pass HEADs again and finds the layer gone).
      onBlobHead: (digest, size) => { if (!heads.has(digest)) heads.set(digest, size); },
      // After every HEAD, before the first PUT: the layer leaves the repository.
      beforeManifest: () => rm(link),
    });
    assert.equal(heads.get(layer), image.manifest.layers.at(-1)!.size, 'the first HEAD found the layer');
    assert.equal(pushed.blobs?.[layer], 'uploaded');
    assert.equal(pushed.blobs?.[image.manifest.config.digest], 'exists');
    assert.deepEqual(await validateRegistryImage(registry.host, 'stale/app', '2'), []);
  });
});
