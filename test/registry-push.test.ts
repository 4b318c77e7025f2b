/**
 * Pushes to a real registry: built images read back by skopeo and docker, `build --push`, blob reuse
 * (HEAD skips, cross-repository mounts), a target that loses a layer between the HEADs and the manifest PUT, and a
 * registry killed and restarted in the middle of an upload.
 */
import { strict as assert } from 'node:assert';
import { existsSync } from 'node:fs';
import { mkdir, readdir, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Authorizer } from '../builder/registry/auth.js';
import { uploadBlob } from '../builder/registry/blob-upload.js';
import { RegistryClient } from '../builder/registry/client.js';
import { registryEndpoint } from '../builder/registry/endpoints.js';
import { emptyConfig } from '../builder/config.js';
import { pushBuiltImage, pushImage, type PushableImage } from '../builder/registry/push.js';
import { Store } from '../builder/store/store.js';
import { loadBusyboxFixture } from './helpers/busybox-fixture.js';
import { expectSuccess, runCli, runCommand } from './helpers/cli.js';
import { startRegistry, type RegistryServer } from './helpers/registry-server.js';
import { validateRegistryImage } from './helpers/oci-validate.js';
import { makeTempDir, removeTempDir } from './helpers/temp-root.js';

const dockerReady = async (): Promise<boolean> => existsSync('/var/run/docker.sock') && (await runCommand('docker', ['version'])).code === 0;

describe('registry push (real docker-registry)', function () {
  this.timeout(120_000);
  let work: string;
  let root: string;
  let registry: RegistryServer;

  before(async function () {
    work = await makeTempDir('registry-push');
    root = path.join(work, 'root');
    await loadBusyboxFixture(root, work);
    registry = await startRegistry();
  });
  after(async function () {
    await registry?.stop();
    await removeTempDir(work);
  });

  async function context(name: string, dockerfile: string): Promise<string> {
    const dir = path.join(work, name);
    await mkdir(dir, { recursive: true });
    await writeFile(path.join(dir, 'Dockerfile'), dockerfile);
    return dir;
  }

  it('build --push: skopeo inspects and copies the image, docker pulls and runs it', async function () {
    const ref = `${registry.host}/app/hello:v1`;
    const dir = await context('hello', 'FROM busybox\nRUN echo hello-from-registry > /hello\nCMD ["cat", "/hello"]\n');
    const built = expectSuccess(await runCli(['build', '--push', '-t', ref, dir], { root }), 'build --push');
    const digest = built.stdout.trim().split('\n').pop();
    assert.match(built.stderr, /Pushed/);

    const inspected = JSON.parse(expectSuccess(await runCommand('skopeo', ['inspect', '--tls-verify=false', `docker://${ref}`]), 'skopeo inspect').stdout) as { Digest: string; Layers: string[] };
    assert.equal(inspected.Digest, digest);
    assert.equal(inspected.Layers.length, 2);
    assert.deepEqual(await validateRegistryImage(registry.host, 'app/hello', 'v1'), []);
    expectSuccess(await runCommand('skopeo', ['copy', '--quiet', '--src-tls-verify=false', `docker://${ref}`, `dir:${path.join(work, 'copied')}`]), 'skopeo copy');

    if (!(await dockerReady())) return;
    try {
      expectSuccess(await runCommand('docker', ['pull', ref]), 'docker pull');
      const ran = expectSuccess(await runCommand('docker', ['run', '--rm', '--network=none', ref]), 'docker run');
      assert.equal(ran.stdout.trim(), 'hello-from-registry');
    } finally {
      await runCommand('docker', ['rmi', '-f', ref]);
    }
  });

  it('a second push uploads no blob, and a push to another repository mounts them', async function () {
    const ref = `${registry.host}/app/hello:v1`;
    const again = expectSuccess(await runCli(['push', ref], { root }), 'second push');
    assert.doesNotMatch(again.stderr, /Pushed|Mounted/);
    // docker's lines: one per layer (the config is pushed too, but not listed).
    assert.equal(again.stderr.match(/Layer already exists/g)?.length, 2);
    const other = expectSuccess(await runCli(['push', ref, `${registry.host}/elsewhere/hello:v2`], { root }), 'push to another repository');
    assert.equal(other.stderr.match(/Mounted from app\/hello/g)?.length, 2, other.stderr);
    assert.doesNotMatch(other.stderr, /Pushed/);
    expectSuccess(await runCommand('skopeo', ['inspect', '--tls-verify=false', `docker://${registry.host}/elsewhere/hello:v2`]), 'inspect the mounted copy');
  });

  it('pushing an image that is not in the store names it', async function () {
    const result = await runCli(['push', `${registry.host}/app/none:v1`], { root });
    assert.equal(result.code, 1);
    assert.match(result.stderr, /app\/none:v1.*no such image/);
  });

  // 4 MiB chunks, and the default: one PUT for the whole 24 MB layer, which must resume from what the registry kept.
  for (const [label, chunkSize] of [['in 4 MiB chunks', 4 * 1024 * 1024], ['in one PUT', undefined]] as const) {
    it(`completes a push ${label} while the registry is killed and restarted mid-upload`, async function () {
      const repository = chunkSize === undefined ? 'crash/one-put' : 'crash/big';
      const dir = await context('big', 'FROM busybox\nRUN head -c 24000000 /dev/urandom > /big\n');
      if (!(await Store.open(root).then((s) => s.resolve('big:v1')))) expectSuccess(await runCli(['build', '-t', 'big:v1', dir], { root }), 'build big');
      const store = await Store.open(root);
      // Forget where the layer was pushed before, so it is uploaded rather than mounted from the other variant's repository.
      await rm(path.join(root, 'registry', 'blob-sources.json'), { force: true });
      const uploads = path.join(registry.storageDir, 'docker', 'registry', 'v2', 'repositories', ...repository.split('/'), '_uploads');
      let restarted = false;
      // Restart as soon as some bytes of an upload have landed: the push is then certainly mid-upload.
      const watcher = (async () => {
        const deadline = Date.now() + 30_000;
        while (!restarted && Date.now() < deadline) {
          const sessions = existsSync(uploads) ? await readdir(uploads) : [];
          for (const session of sessions) {
            const data = path.join(uploads, session, 'data');
            const size = await stat(data).then((s) => s.size, () => 0);
            if (size > 2_000_000) {
              restarted = true;
              await registry.restart();
              return;
            }
          }
          await new Promise((resolve) => setTimeout(resolve, 5));
        }
      })();
      const result = await pushImage(store, 'big:v1', `${registry.host}/${repository}:v1`, { config: { registries: {}, raw: {} }, ...(chunkSize ? { chunkSize } : {}) });
      await watcher;
      assert.ok(restarted, 'the registry was restarted during the push');
      const image = (await store.resolve('big:v1'))!;
      assert.equal(result.digest, image.manifestDescriptor.digest);
      expectSuccess(await runCommand('skopeo', ['copy', '--quiet', '--src-tls-verify=false', `docker://${registry.host}/${repository}:v1`, `dir:${path.join(work, `${repository.replace('/', '-')}-copy`)}`]), 'skopeo copy verifies every blob');
    });
  }

  // bench-big's shape: one big layer the registry has never been seen to hold, pushed first (largest first).
  it('a big layer unseen at the registry is uploaded, and a second push with no sources recorded finds every blob', async function () {
    const dir = await context('big', 'FROM busybox\nRUN head -c 24000000 /dev/urandom > /big\n');
    if (!(await Store.open(root).then((s) => s.resolve('big:v1')))) expectSuccess(await runCli(['build', '-t', 'big:v1', dir], { root }), 'build big');
    const store = await Store.open(root);
    const image = (await store.resolve('big:v1'))!;
    const repository = 'lead/big';
    const options = { config: { registries: {}, raw: {} } };
    await rm(path.join(root, 'registry', 'blob-sources.json'), { force: true });
    const first = await pushImage(store, 'big:v1', `${registry.host}/${repository}:v1`, options);
    const blobs = [...image.manifest.layers, image.manifest.config].map((b) => b.digest);
    assert.deepEqual(blobs.map((d) => first.blobs?.[d]), blobs.map(() => 'uploaded'));
    // Forgotten sources: every HEAD finds its blob, and no upload session is opened for nothing.
    await rm(path.join(root, 'registry', 'blob-sources.json'), { force: true });
    const second = await pushImage(store, 'big:v1', `${registry.host}/${repository}:v2`, options);
    assert.deepEqual(blobs.map((d) => second.blobs?.[d]), blobs.map(() => 'exists'));
    const uploads = path.join(registry.storageDir, 'docker', 'registry', 'v2', 'repositories', ...repository.split('/'), '_uploads');
    const live = (await readdir(uploads, { recursive: true, withFileTypes: true })).filter((e) => e.isFile() && !e.parentPath.includes('hashstates'));
    assert.deepEqual(live.map((e) => e.name), [], 'no upload session is left open');
    expectSuccess(await runCommand('skopeo', ['copy', '--quiet', '--src-tls-verify=false', `docker://${registry.host}/${repository}:v2`, `dir:${path.join(work, 'lead-copy')}`]), 'skopeo copy verifies every blob');
  });

  // A push whose knowledge of the target went stale before its manifest PUT: its HEAD found a layer, then the
  // layer's link left the registry's storage. MANIFEST_BLOB_UNKNOWN makes the push HEAD every blob again and upload
  // what is missing (builder/registry/push.ts): the fallback any trusted fact about the target leans on.
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
  it('resumes a chunked upload where the registry left it when the registry restarts between chunks', async function () {
    const store = await Store.open(root);
    const image = (await store.resolve('busybox'))!;
    const layer = image.manifest.layers[0]!;
    const client = new RegistryClient(registryEndpoint(registry.host, { registries: {}, raw: {} }), 'resume/busybox', new Authorizer(), 'pull,push');
    let reported = 0;
    let restarting: Promise<void> | undefined;
    const outcome = await uploadBlob(client, store.blobPath(layer.digest), layer, 'uploading the busybox layer', {
      chunkSize: Math.ceil(layer.size / 4),
      mountFrom: [],
      onBytes: (bytes) => {
        reported += bytes;
        restarting ??= registry.restart(); // kills at once: the next chunk meets a dead registry
      },
    });
    await restarting;
    assert.equal(outcome, 'uploaded');
    assert.equal(reported, layer.size, 'every byte went up once: the upload resumed rather than starting over');
    const head = await fetch(`http://${registry.host}/v2/resume/busybox/blobs/${layer.digest}`, { method: 'HEAD' });
    assert.equal(head.status, 200);
  });
});
