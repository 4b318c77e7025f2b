/**
 * Pulls against a real registry (Debian's docker-registry): `builder pull`, FROM through a docker.io mirror,
 * `--pull`, platform choice from an index, and every way a registry can hand us bad content.
 */
import { strict as assert } from 'node:assert';
import { existsSync } from 'node:fs';
import { readFile, readdir, truncate, writeFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { createHash } from 'node:crypto';
import tar from 'tar-stream';
import { writeImage } from '../builder/image/manifest.js';
import type { ImageConfig, Layer } from '../builder/image/types.js';
import { pushImage } from '../builder/registry/push.js';
import { Store } from '../builder/store/store.js';
import { loadBusyboxFixture } from './helpers/busybox-fixture.js';
import { expectSuccess, runCli } from './helpers/cli.js';
import { registryBlobPath, skopeoCopyToRegistry, startRegistry, type RegistryServer } from './helpers/registry-server.js';
import { makeTempDir, removeTempDir } from './helpers/temp-root.js';

const noConfig = { registries: {}, raw: {} };

/** A variant of the store's busybox with its own config (so its config blob is unique), tagged `name`. */
async function variant(root: string, name: string, change: (config: ImageConfig) => void, extraLayer?: Layer): Promise<string> {
  const store = await Store.open(root);
  const base = (await store.resolve('busybox'))!;
  const config: ImageConfig = JSON.parse(JSON.stringify(base.config));
  change(config);
  const layers = [...base.layers];
  if (extraLayer) {
    layers.push(extraLayer);
    config.rootfs.diff_ids.push(extraLayer.diffId);
  }
  const descriptor = await writeImage(store, config, layers);
  await store.tag(name, descriptor);
  return descriptor.digest;
}

async function tarOf(entries: { name: string; type?: 'file' | 'symlink'; linkname?: string; body?: string }[]): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  const done = new Promise<Buffer>((resolve) => {
    pack.on('data', (chunk: unknown) => { chunks.push(chunk as Buffer); });
    pack.on('end', () => resolve(Buffer.concat(chunks)));
  });
  for (const entry of entries) pack.entry({ name: entry.name, type: entry.type ?? 'file', linkname: entry.linkname, mode: 0o644 }, entry.body ?? '');
  pack.finalize();
  return done;
}

async function layerOf(root: string, raw: Buffer): Promise<Layer> {
  const store = await Store.open(root);
  const gz = gzipSync(raw);
  const { digest, size } = await store.writeBlob(gz);
  return { digest, size, diffId: `sha256:${createHash('sha256').update(raw).digest('hex')}`, mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip' };
}

describe('registry pull (real docker-registry)', function () {
  this.timeout(120_000);
  let work: string;
  let seedRoot: string;
  let registry: RegistryServer;

  before(async function () {
    work = await makeTempDir('registry-pull');
    seedRoot = path.join(work, 'seed');
    await loadBusyboxFixture(seedRoot, work);
    registry = await startRegistry();
    skopeoCopyToRegistry(seedRoot, 'busybox:latest', `${registry.host}/library/busybox:latest`);
  });
  after(async function () {
    await registry?.stop();
    await removeTempDir(work);
  });

  const emptyRoot = async (name: string): Promise<string> => {
    const root = path.join(work, name);
    await mkdir(root, { recursive: true });
    return root;
  };
  const tmpLeftovers = async (root: string): Promise<string[]> => (existsSync(path.join(root, 'tmp')) ? readdir(path.join(root, 'tmp')) : []);

  it('builder pull stores every blob and tags the familiar name', async function () {
    const root = await emptyRoot('pull');
    const result = expectSuccess(await runCli(['pull', `${registry.host}/library/busybox`], { root }), 'builder pull');
    assert.equal(result.stdout.trim(), `${registry.host}/library/busybox:latest`);
    const store = await Store.open(root);
    const image = await store.resolve(`${registry.host}/library/busybox:latest`);
    assert.ok(image, 'the pulled image is tagged');
    for (const layer of image.layers) assert.ok(await store.hasBlob(layer.digest));
    const seed = (await (await Store.open(seedRoot)).resolve('busybox'))!;
    assert.equal(image.config.rootfs.diff_ids[0], seed.config.rootfs.diff_ids[0]);
    // A second pull downloads nothing.
    const again = expectSuccess(await runCli(['pull', `${registry.host}/library/busybox`], { root }), 'second pull');
    assert.match(again.stderr, /: Already exists$/m);
  });

  it('FROM busybox pulls through a docker.io mirror from the config file, and --pull re-checks the tag', async function () {
    const root = await emptyRoot('mirror');
    const configFile = path.join(work, 'builder.toml');
    await writeFile(configFile, `[registry."docker.io"]\nmirrors = ["http://${registry.host}"]\n\n[api]\nport = 1\n`);
    const context = path.join(work, 'mirror-context');
    await mkdir(context, { recursive: true });
    await writeFile(path.join(context, 'Dockerfile'), 'FROM busybox\nRUN echo mirrored > /m\n');
    const env = { BUILDER_CONFIG: configFile };
    expectSuccess(await runCli(['build', '-t', 'm:1', context], { root, env }), 'build through the mirror');
    const store = await Store.open(root);
    const first = (await store.resolve('busybox'))!;

    // A new busybox:latest appears in the mirror; a plain build keeps the local one, --pull takes the new one.
    await variant(seedRoot, 'busybox-next', (config) => (config.config.Labels = { generation: '2' }));
    const pushed = await pushImage(await Store.open(seedRoot), 'busybox-next', `${registry.host}/library/busybox:latest`, { config: noConfig });
    expectSuccess(await runCli(['build', '-t', 'm:2', context], { root, env }), 'build without --pull');
    assert.equal((await store.resolve('busybox'))!.manifestDescriptor.digest, first.manifestDescriptor.digest);
    expectSuccess(await runCli(['build', '--pull', '-t', 'm:3', context], { root, env }), 'build --pull');
    assert.equal((await store.resolve('busybox'))!.manifestDescriptor.digest, pushed.digest);
    assert.equal((await store.resolve('m:3'))!.config.config.Labels?.generation, '2');
    // Put the original back for the other cases.
    skopeoCopyToRegistry(seedRoot, 'busybox:latest', `${registry.host}/library/busybox:latest`);
  });

  it('chooses the manifest for --platform from an image index (linux/amd64 by default)', async function () {
    const amd = (await (await Store.open(seedRoot)).resolve('busybox'))!;
    const armDigest = await variant(seedRoot, 'busybox-arm', (config) => (config.architecture = 'arm64'));
    const seedStore = await Store.open(seedRoot);
    await pushImage(seedStore, 'busybox', `${registry.host}/multi/busybox@${amd.manifestDescriptor.digest}`, { config: noConfig });
    await pushImage(seedStore, 'busybox-arm', `${registry.host}/multi/busybox@${armDigest}`, { config: noConfig });
    const armSize = (await seedStore.readBlob(armDigest)).length;
    const index = JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: [
        { mediaType: amd.manifestDescriptor.mediaType, digest: amd.manifestDescriptor.digest, size: amd.manifestDescriptor.size, platform: { os: 'linux', architecture: 'amd64' } },
        { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: armDigest, size: armSize, platform: { os: 'linux', architecture: 'arm64' } },
      ],
    });
    const put = await fetch(`http://${registry.host}/v2/multi/busybox/manifests/latest`, {
      method: 'PUT', headers: { 'content-type': 'application/vnd.oci.image.index.v1+json' }, body: index,
    });
    assert.equal(put.status, 201, await put.text());

    const root = await emptyRoot('platform');
    expectSuccess(await runCli(['pull', '--platform', 'linux/arm64', `${registry.host}/multi/busybox`], { root }), 'pull arm64');
    const store = await Store.open(root);
    assert.equal((await store.resolve(`${registry.host}/multi/busybox`))!.config.architecture, 'arm64');
    expectSuccess(await runCli(['pull', `${registry.host}/multi/busybox`], { root }), 'pull default platform');
    assert.equal((await store.resolve(`${registry.host}/multi/busybox`))!.config.architecture, 'amd64');
    const missing = await runCli(['pull', '--platform', 'linux/s390x', `${registry.host}/multi/busybox`], { root });
    assert.notEqual(missing.code, 0);
    assert.match(missing.stderr, /no linux\/s390x image.*available: linux\/amd64, linux\/arm64/);
  });

  it('a tag the registry does not have is REGISTRY_NOT_FOUND naming the reference', async function () {
    const root = await emptyRoot('missing');
    const result = await runCli(['pull', `${registry.host}/library/busybox:nope`], { root });
    assert.equal(result.code, 1);
    assert.match(result.stderr, new RegExp(`${registry.host}/library/busybox:nope.*HTTP 404`));
    assert.deepEqual(await (await Store.open(root)).listImages(), []);
  });

  /** Pushes a unique variant, breaks one of its blobs in the registry's storage, and pulls it. */
  async function pullBroken(name: string, breakIt: (image: { manifest: string; config: string }) => Promise<void>): Promise<{ stderr: string; root: string }> {
    const digest = await variant(seedRoot, name, (config) => (config.config.Labels = { case: name }));
    const seedStore = await Store.open(seedRoot);
    await pushImage(seedStore, name, `${registry.host}/broken/${name}:latest`, { config: noConfig });
    const image = (await seedStore.resolve(digest))!;
    await breakIt({ manifest: registryBlobPath(registry.storageDir, digest), config: registryBlobPath(registry.storageDir, image.manifest.config.digest) });
    const root = await emptyRoot(`broken-${name}`);
    const result = await runCli(['pull', `${registry.host}/broken/${name}:latest`], { root });
    assert.equal(result.code, 1, result.stderr);
    assert.match(result.stderr, /LAYER_INVALID|ERROR/);
    assert.ok(result.stderr.includes(`${registry.host}/broken/${name}:latest`), `the error names the reference: ${result.stderr}`);
    const store = await Store.open(root);
    assert.deepEqual(await store.listImages(), [], 'nothing is tagged');
    assert.equal(await store.hasBlob(image.manifest.config.digest), false, 'no bad blob is stored');
    assert.deepEqual(await tmpLeftovers(root), [], 'no temp file is left');
    return { stderr: result.stderr, root };
  }

  it('a blob whose bytes do not match its digest fails and stores nothing', async function () {
    const { stderr } = await pullBroken('corrupt', async ({ config }) => {
      const bytes = await readFile(config);
      bytes[bytes.length - 2] = bytes[bytes.length - 2]! ^ 1;
      await writeFile(config, bytes);
    });
    assert.match(stderr, /does not match its digest/);
  });

  it('a truncated blob fails and stores nothing', async function () {
    const { stderr } = await pullBroken('truncated', async ({ config }) => {
      const { size } = await import('node:fs/promises').then((fs) => fs.stat(config));
      await truncate(config, Math.floor(size / 2));
    });
    assert.match(stderr, /truncated|does not match/);
  });

  it('a manifest whose bytes do not match its digest fails before any blob is fetched', async function () {
    const { stderr } = await pullBroken('manifest', async ({ manifest }) => {
      await writeFile(manifest, Buffer.concat([await readFile(manifest), Buffer.from(' ')]));
    });
    assert.match(stderr, /manifest does not match/);
  });

  it('a pulled layer that escapes with ../ fails the build with LAYER_INVALID naming the entry', async function () {
    const evil = await layerOf(seedRoot, await tarOf([{ name: '../escaped', body: 'x' }, { name: 'ok', body: 'y' }]));
    await variant(seedRoot, 'evil', () => undefined, evil);
    await pushImage(await Store.open(seedRoot), 'evil', `${registry.host}/evil/image:latest`, { config: noConfig });
    const root = await emptyRoot('evil');
    const context = path.join(work, 'evil-context');
    await mkdir(context, { recursive: true });
    await writeFile(path.join(context, 'Dockerfile'), `FROM ${registry.host}/evil/image:latest\nRUN true\n`);
    const result = await runCli(['build', context], { root });
    assert.equal(result.code, 1, result.stderr);
    assert.match(result.stderr, /\.\.\/escaped/);
    assert.match(result.stderr, /LAYER_INVALID|outside|escape/i);
    assert.equal(existsSync(path.join(root, 'escaped')), false);
    assert.equal(existsSync(path.join(root, 'snapshots', 'escaped')), false);
  });
});
