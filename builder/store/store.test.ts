import { strict as assert } from 'node:assert';
import { execFile, spawn } from 'node:child_process';
import { readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { BuildError } from '../errors.js';
import { writeImage } from '../image/manifest.js';
import { REF_NAME_ANNOTATION, type Descriptor, type ImageIndex } from '../image/types.js';
import { Store } from './store.js';
import { configFor, makeImage, sha256, tempStore } from './test-fixtures.js';

const run = promisify(execFile);

describe('store/store', function () {
  let store: Store;
  let dir: string;
  let cleanup: () => Promise<void>;
  beforeEach(async () => ({ store, dir, cleanup } = await tempStore()));
  afterEach(async () => cleanup());

  const readIndexFile = async (): Promise<ImageIndex> => JSON.parse(await readFile(join(store.ociDir, 'index.json'), 'utf8')) as ImageIndex;

  it('creates an OCI layout and the working directories', async () => {
    assert.deepEqual(JSON.parse(await readFile(join(store.ociDir, 'oci-layout'), 'utf8')), { imageLayoutVersion: '1.0.0' });
    assert.deepEqual((await readIndexFile()).manifests, []);
    for (const d of [store.snapshotsDir, store.cacheDir, store.containersDir, store.tmpDir]) await readdir(d);
    await Store.open(store.root); // re-opening keeps what is there
  });

  it('writes blobs atomically and idempotently, and reports missing ones', async () => {
    const first = await store.writeBlob('hello');
    assert.deepEqual(first, { digest: sha256('hello'), size: 5 });
    assert.deepEqual(await store.writeBlob(Buffer.from('hello')), first);
    assert.equal((await store.readBlob(first.digest)).toString(), 'hello');
    assert.ok(await store.hasBlob(first.digest));
    assert.deepEqual(await readdir(store.tmpDir), []);
    const temp = store.tempPath('import');
    await writeFile(temp, 'hello');
    await store.importBlobFile(temp, first.digest); // exists already: the temp file just goes away
    assert.deepEqual(await readdir(store.tmpDir), []);
    await assert.rejects(store.readBlob(sha256('nope')), (err: BuildError) => err.code === 'STORE_CORRUPT');
    assert.throws(() => store.blobPath('sha256:xyz'), (err: BuildError) => err.code === 'INVALID_ARGUMENT');
  });

  it('a tag that already names the manifest leaves index.json as it is (a no-op rebuild writes nothing)', async () => {
    const { manifest } = await makeImage(store);
    const other = await makeImage(store, 'b');
    const indexPath = join(store.ociDir, 'index.json');
    await store.tag('app', manifest);
    const before = await stat(indexPath);
    await store.tag('app:latest', manifest);
    const same = await stat(indexPath);
    assert.equal(same.ino, before.ino, 'the same tag again must not replace index.json');
    assert.equal(same.mtimeMs, before.mtimeMs);
    await store.tag('app', other.manifest);
    assert.notEqual((await stat(indexPath)).ino, before.ino, 'a changed tag is written');
    assert.equal((await store.resolve('app'))?.manifestDescriptor.digest, other.manifest.digest);
    assert.deepEqual((await readIndexFile()).manifests.map((e) => e.annotations?.[REF_NAME_ANNOTATION]), ['app:latest', 'app']);
  });

  it('keeps an untagged image as an unnamed entry until a tag or forgetUntagged ends it (docker\'s dangling images)', async () => {
    const { manifest } = await makeImage(store);
    const tagged = await makeImage(store, 'b');
    await store.tag('other', tagged.manifest);
    await store.keepUntagged(manifest);
    await store.keepUntagged(manifest); // idempotent
    await store.keepUntagged(tagged.manifest); // already named by a tag: nothing to add
    assert.deepEqual((await store.listUntagged()).map((d) => d.digest), [manifest.digest]);
    assert.deepEqual((await store.listImages()).map((i) => i.name), ['other:latest'], 'tags only');
    assert.equal((await store.resolve(manifest.digest))?.manifestDescriptor.digest, manifest.digest);
    await store.tag('named:1', manifest);
    assert.deepEqual(await store.listUntagged(), [], 'a tag ends the unnamed entry');
    assert.equal((await readIndexFile()).manifests.filter((e) => e.digest === manifest.digest).length, 1);
    assert.ok(await store.untag('named:1'));
    await store.keepUntagged(manifest);
    assert.ok(await store.forgetUntagged(manifest.digest));
    assert.ok(!(await store.forgetUntagged(manifest.digest)));
    assert.deepEqual((await readIndexFile()).manifests.map((e) => e.annotations?.[REF_NAME_ANNOTATION]), ['other:latest', 'other']);
    await assert.rejects(store.keepUntagged({ ...manifest, digest: sha256('absent') }), /not in the store/);
  });

  it('a prepared tag is in place only after commit(), keeps a tag written meanwhile, and discard() leaves nothing', async () => {
    const { manifest } = await makeImage(store);
    const other = await makeImage(store, 'b');
    const names = async (): Promise<(string | undefined)[]> => (await readIndexFile()).manifests.map((e) => e.annotations?.[REF_NAME_ANNOTATION]);
    const prepared = await store.prepareTags(['app', 'app:latest', 'reg.example/app:1'], manifest);
    assert.deepEqual(await names(), [], 'nothing names the manifest before commit');
    assert.equal((await readdir(store.tmpDir)).length, 1, 'the next index.json waits in tmp/');
    await prepared.commit();
    assert.deepEqual(await names(), ['app:latest', 'app', 'reg.example/app:1']);
    assert.deepEqual(await readdir(store.tmpDir), []);
    // index.json changed between prepare and commit: the other tag stays, this one is applied on top.
    const racing = await store.prepareTags(['app'], other.manifest);
    await store.tag('side:1', manifest);
    await racing.commit();
    assert.deepEqual(await names(), ['reg.example/app:1', 'side:1', 'app:latest', 'app']);
    assert.equal((await store.resolve('app'))?.manifestDescriptor.digest, other.manifest.digest);
    assert.deepEqual(await readdir(store.tmpDir), []);
    const dropped = await store.prepareTags(['gone:1'], manifest);
    await dropped.discard();
    assert.deepEqual(await readdir(store.tmpDir), []);
    assert.ok(!(await names()).includes('gone:1'));
    // A manifest that is not in the store is never named (as tag() refuses it).
    const missing = await store.prepareTags(['ghost:1'], { ...manifest, digest: sha256('not there') });
    await assert.rejects(missing.commit(), (err: BuildError) => err.code === 'IMAGE_NOT_FOUND');
    assert.deepEqual(await readdir(store.tmpDir), []);
  });

  it('tags, resolves by every accepted form, lists and untags', async () => {
    const { manifest, layers } = await makeImage(store);
    await store.tag('app', manifest);
    const entries = (await readIndexFile()).manifests;
    assert.deepEqual(entries.map((e) => e.annotations?.[REF_NAME_ANNOTATION]), ['app:latest', 'app']);
    assert.deepEqual(entries[0]!.platform, { architecture: 'amd64', os: 'linux' });

    const image = await store.resolve('app');
    assert.ok(image);
    assert.equal(image.manifestDescriptor.digest, manifest.digest);
    assert.deepEqual(image.layers, layers);
    assert.deepEqual(image.config.config.Cmd, ['echo', 'a']);
    const configHex = image.manifest.config.digest.slice(7);
    const forms = ['app:latest', 'docker.io/library/app', `app@${manifest.digest}`, manifest.digest, image.manifest.config.digest, manifest.digest.slice(7, 19), configHex.slice(0, 4), manifest.digest.slice(7)];
    for (const form of forms) assert.equal((await store.resolve(form))?.manifestDescriptor.digest, manifest.digest, form);
    assert.equal(await store.resolve('other'), undefined);
    assert.equal(await store.resolve('ffffffffff'), undefined);
    await assert.rejects(store.resolve('Bad'), (err: BuildError) => err.code === 'INVALID_REFERENCE');

    const second = await makeImage(store, 'b');
    await store.tag('localhost:5000/x/y:1', second.manifest);
    await store.tag('app:v2', second.manifest);
    const list = await store.listImages();
    assert.deepEqual(list.map((i) => i.name).sort(), ['app:latest', 'app:v2', 'localhost:5000/x/y:1']);
    const app = list.find((i) => i.name === 'app:latest')!;
    assert.equal(app.configDigest, image.manifest.config.digest);
    assert.equal(app.created, '2024-01-01T00:00:00Z');
    assert.equal(app.size, layers[0]!.size + layers[1]!.size);

    await store.tag('app', second.manifest); // retag replaces both entries of the pair
    assert.equal((await store.resolve('app'))?.manifestDescriptor.digest, second.manifest.digest);
    assert.equal((await readIndexFile()).manifests.filter((e) => e.digest === manifest.digest).length, 0);
    assert.equal(await store.resolve(manifest.digest.slice(7, 20)), undefined); // untagged images are not found by prefix
    assert.equal((await store.resolve(manifest.digest))?.manifestDescriptor.digest, manifest.digest); // but by full digest

    assert.equal(await store.untag('app'), true);
    assert.equal(await store.untag('app'), false);
    assert.deepEqual((await store.listImages()).map((i) => i.name).sort(), ['app:v2', 'localhost:5000/x/y:1']);
    await assert.rejects(store.tag('ghost', { ...manifest, digest: sha256('ghost') }), (err: BuildError) => err.code === 'IMAGE_NOT_FOUND');
    await assert.rejects(store.tag(`app@${manifest.digest}`, manifest), (err: BuildError) => err.code === 'INVALID_REFERENCE');
  });

  it('refuses an ambiguous id prefix', async () => {
    const { layers } = await makeImage(store);
    // Make images until two manifest digests share 4 hex digits (birthday bound: a few hundred).
    const byPrefix = new Map<string, Descriptor>();
    for (let i = 0; i < 5000; i++) {
      const manifest = await writeImage(store, configFor(layers, ['echo', String(i)]), layers);
      const prefix = manifest.digest.slice(7, 11);
      const other = byPrefix.get(prefix);
      if (other) {
        await store.tag('one', other);
        await store.tag('two', manifest);
        await assert.rejects(store.resolve(prefix), (err: BuildError) => err.code === 'INVALID_REFERENCE' && /ambiguous/.test(err.message));
        assert.equal((await store.resolve(manifest.digest.slice(7, 30)))?.manifestDescriptor.digest, manifest.digest);
        return;
      }
      byPrefix.set(prefix, manifest);
    }
    assert.fail('no 4-digit prefix collision found');
  });

  it('keeps index.json valid under two processes tagging concurrently', async () => {
    const { manifest } = await makeImage(store);
    const script = join(dir, 'tagger.mjs');
    const storeModule = join(fileURLToPath(new URL('.', import.meta.url)), 'store.js');
    await writeFile(
      script,
      `import { Store } from ${JSON.stringify(storeModule)};
       const [root, prefix, digest, size] = process.argv.slice(2);
       const store = await Store.open(root);
       for (let i = 0; i < 20; i++) await store.tag(prefix + i, { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest, size: Number(size) });`,
    );
    const child = (prefix: string) =>
      new Promise<void>((resolve, reject) => {
        const proc = spawn(process.execPath, [script, store.root, prefix, manifest.digest, String(manifest.size)], { stdio: 'inherit' });
        proc.on('error', reject);
        proc.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`tagger exited ${code}`))));
      });
    await Promise.all([child('one-'), child('two-'), ...Array.from({ length: 10 }, (_, i) => store.tag(`self-${i}`, manifest))]);
    const names = (await store.listImages()).map((i) => i.name);
    assert.equal(names.length, 50);
    for (let i = 0; i < 20; i++) assert.ok(names.includes(`one-${i}:latest`) && names.includes(`two-${i}:latest`));
    assert.equal((await readIndexFile()).manifests.length, 100);
    assert.ok(!(await readdir(store.ociDir)).some((f) => f.includes('lock') || f.includes('tmp')));
  });

  it('recovers a lock left by a dead process', async () => {
    const { manifest } = await makeImage(store);
    await writeFile(join(store.ociDir, 'index.json.lock'), '999999999');
    await store.tag('app', manifest);
    assert.ok(await store.resolve('app'));
  });

  it('is readable by skopeo and umoci', async function () {
    const { manifest } = await makeImage(store);
    await store.tag('app', manifest);
    await store.tag('localhost:5000/x/y:1', manifest);
    for (const name of ['app:latest', 'app', 'localhost:5000/x/y:1']) {
      const { stdout } = await run('skopeo', ['inspect', `oci:${store.ociDir}:${name}`]);
      assert.equal((JSON.parse(stdout) as { Digest: string }).Digest, manifest.digest, name);
    }
    const bundle = join(dir, 'bundle');
    await run('umoci', ['unpack', '--image', `${store.ociDir}:app:latest`, bundle]);
    assert.equal(await readFile(join(bundle, 'rootfs', 'app', 'a.txt'), 'utf8'), 'hello a\n');
    assert.equal(await readFile(join(bundle, 'rootfs', 'etc', 'os-release'), 'utf8'), 'ID=test\n');
  });
});
