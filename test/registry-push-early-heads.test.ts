/**
 * A push that takes HEADs its build sent early (builder/registry/push-early-heads.ts), against a real docker-registry:
 * an early "absent" is acted on (the push mounts instead of asking again), and an early "present" that went stale
 * before the manifest PUT (the blob's link removed from the registry's storage) falls back: the PUT's
 * MANIFEST_BLOB_UNKNOWN makes the push HEAD and upload again, and the pushed image is whole.
 */
import { strict as assert } from 'node:assert';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { emptyConfig } from '../builder/config.js';
import { EarlyHeads } from '../builder/registry/push-early-heads.js';
import { pushBuiltImage, pushImage, type PushableImage } from '../builder/registry/push.js';
import { Store } from '../builder/store/store.js';
import { loadBusyboxFixture } from './helpers/busybox-fixture.js';
import { expectSuccess, runCli } from './helpers/cli.js';
import { startRegistry, type RegistryServer } from './helpers/registry-server.js';
import { validateRegistryImage } from './helpers/oci-validate.js';
import { makeTempDir, removeTempDir } from './helpers/temp-root.js';

describe('push with early HEADs (real docker-registry)', function () {
  this.timeout(120_000);
  let work: string;
  let root: string;
  let registry: RegistryServer;
  let store: Store;
  let image: PushableImage;
  let digests: string[];

  before(async function () {
    work = await makeTempDir('push-early-heads');
    root = path.join(work, 'root');
    await loadBusyboxFixture(root, work);
    registry = await startRegistry();
    const dir = path.join(work, 'ctx');
    await mkdir(dir, { recursive: true });
    await writeFile(path.join(dir, 'Dockerfile'), 'FROM busybox\nRUN echo early > /early\n');
    expectSuccess(await runCli(['build', '-t', 'early:1', dir], { root }), 'build');
    store = await Store.open(root);
    const resolved = await store.resolve('early:1');
    assert.ok(resolved);
    image = { manifest: resolved.manifest, manifestBytes: await store.readBlob(resolved.manifestDescriptor.digest), mediaType: resolved.manifestDescriptor.mediaType };
    digests = [...resolved.manifest.layers, resolved.manifest.config].map((blob) => blob.digest);
  });
  after(async function () {
    await registry?.stop();
    await removeTempDir(work);
  });

  const config = emptyConfig();
  const pushWith = (destination: string, earlyHeads: EarlyHeads) => pushBuiltImage(store, image, destination, {
    config, blobsWritten: Promise.resolve(), beforeManifest: async () => undefined, sources: new Map(), earlyHeads,
  });
  /** Starts the early HEAD of every blob of the image and waits for their answers (the fallback must not be needed). */
  const asked = async (destination: string): Promise<{ heads: EarlyHeads; sizes: (number | undefined)[] }> => {
    const heads = new EarlyHeads(destination, config);
    for (const digest of digests) heads.start(digest);
    const sizes = await Promise.all(digests.map((digest) => heads.take(destination, digest, () => Promise.reject(new Error('the early HEAD failed')))!()));
    return { heads, sizes };
  };

  it('acts on an early "absent": the blobs are mounted, not found present by a second HEAD', async function () {
    const destination = `${registry.host}/early/other:1`;
    const { heads, sizes } = await asked(destination);
    assert.deepEqual(sizes, digests.map(() => undefined));
    assert.equal(heads.take(`${registry.host}/early/else:1`, digests[0]!, async () => undefined), undefined, 'an answer is for its own destination only');
    // Now another repository holds them, and so does the target (a push of another tag): a HEAD sent now would find
    // every blob; the push trusts its early answers and mounts them from there (blob-sources.json names early/app).
    await pushImage(store, 'early:1', `${registry.host}/early/app:1`, { config });
    await pushImage(store, 'early:1', `${registry.host}/early/other:0`, { config });
    const pushed = await pushWith(destination, heads);
    assert.deepEqual(digests.map((digest) => pushed.blobs?.[digest]), digests.map(() => 'mounted'));
    assert.deepEqual(await validateRegistryImage(registry.host, 'early/other', '1'), []);
  });

  it('falls back when an early "present" went stale: the manifest PUT fails, the blob is uploaded again', async function () {
    const destination = `${registry.host}/early/app:2`;
    const { heads, sizes } = await asked(destination);
    assert.ok(sizes.every((size) => typeof size === 'number'), 'every blob was in early/app when asked');
    // The layer this image added leaves the target repository after the early HEAD said it was there.
    const layer = image.manifest.layers.at(-1)!.digest;
    await rm(path.join(registry.storageDir, 'docker', 'registry', 'v2', 'repositories', 'early', 'app', '_layers', 'sha256', layer.slice('sha256:'.length), 'link'));
    const pushed = await pushWith(destination, heads);
    assert.equal(pushed.blobs?.[layer], 'uploaded');
    assert.deepEqual(await validateRegistryImage(registry.host, 'early/app', '2'), []);
  });
});
