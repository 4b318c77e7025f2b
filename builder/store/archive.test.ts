import { strict as assert } from 'node:assert';
import { execFile } from 'node:child_process';
import { readFile, readdir, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import tar from 'tar-stream';
import { BuildError } from '../errors.js';
import { MEDIA_TYPES, type Descriptor } from '../image/types.js';
import { loadImages, saveImages } from './archive.js';
import type { Store } from './store.js';
import { configFor, makeImage, makeTar, sha256, tempStore } from './test-fixtures.js';

const run = promisify(execFile);

type TarEntry = { name: string; content?: string | Buffer; linkname?: string };

async function writeTar(path: string, entries: TarEntry[], gzip = false): Promise<void> {
  const pack = tar.pack();
  for (const entry of entries) {
    if (entry.linkname) pack.entry({ name: entry.name, type: 'symlink', linkname: entry.linkname });
    else pack.entry({ name: entry.name }, entry.content ?? '');
  }
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of pack) chunks.push(chunk as Buffer);
  const bytes = Buffer.concat(chunks);
  await writeFile(path, gzip ? gzipSync(bytes) : bytes);
}

describe('store/archive', function () {
  let source: Store;
  let target: Store;
  let dir: string;
  const cleanups: (() => Promise<void>)[] = [];
  beforeEach(async () => {
    const a = await tempStore();
    const b = await tempStore();
    [source, target, dir] = [a.store, b.store, a.dir];
    cleanups.push(a.cleanup, b.cleanup);
  });
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0)) await cleanup();
  });

  const diffIds = async (store: Store, name: string): Promise<string[]> => (await store.resolve(name))!.layers.map((l) => l.diffId);

  /** Expects a failed load that leaves no tag and nothing in the store's tmp dir. */
  async function expectInvalid(archive: string, pattern: RegExp): Promise<void> {
    await assert.rejects(loadImages(target, archive), (err: BuildError) => {
      assert.equal(err.code, 'ARCHIVE_INVALID', err.message);
      assert.match(err.message, pattern);
      return true;
    });
    assert.deepEqual(await target.listImages(), []);
    assert.deepEqual(await readdir(target.tmpDir), []);
  }

  for (const format of ['oci', 'docker'] as const) {
    it(`round-trips ${format} archives (and skopeo reads them)`, async () => {
      const a = await makeImage(source, 'a');
      const b = await makeImage(source, 'b');
      await source.tag('app', a.manifest);
      await source.tag('app:v2', a.manifest);
      await source.tag('localhost:5000/other:1', b.manifest);
      const out = join(dir, `out-${format}.tar`);
      await saveImages(source, ['app', 'app:v2', 'localhost:5000/other:1'], out, format);
      const skopeoRef = format === 'oci' ? `oci-archive:${out}:app:latest` : `docker-archive:${out}:app:latest`;
      const { stdout } = await run('skopeo', ['inspect', skopeoRef]);
      // skopeo's docker-archive source names layers by diffId.
      const expected = a.layers.map((l) => (format === 'oci' ? l.digest : l.diffId));
      assert.deepEqual((JSON.parse(stdout) as { Layers: string[] }).Layers, expected);

      const names = await loadImages(target, out);
      assert.deepEqual(names.sort(), ['app:latest', 'app:v2', 'localhost:5000/other:1']);
      for (const name of names) assert.deepEqual(await diffIds(target, name), await diffIds(source, name));
      const loaded = (await target.resolve('app'))!;
      assert.equal(loaded.manifest.config.digest, (await source.resolve('app'))!.manifest.config.digest);
      if (format === 'oci') assert.equal(loaded.manifestDescriptor.digest, a.manifest.digest);
      assert.deepEqual(await readdir(target.tmpDir), []);
      assert.ok(!(await readdir(dir)).some((f) => f.includes('.tmp-')));
    });
  }

  it('loads what skopeo writes (docker-archive and oci-archive)', async () => {
    const a = await makeImage(source);
    await source.tag('app', a.manifest);
    const dockerArchive = join(dir, 'skopeo-docker.tar');
    const ociArchive = join(dir, 'skopeo-oci.tar');
    await run('skopeo', ['copy', `oci:${source.ociDir}:app`, `docker-archive:${dockerArchive}:web:1`]);
    await run('skopeo', ['copy', `oci:${source.ociDir}:app`, `oci-archive:${ociArchive}:web:2`]);
    assert.deepEqual(await loadImages(target, dockerArchive), ['web:1']);
    assert.deepEqual(await loadImages(target, ociArchive), ['web:2']);
    for (const name of ['web:1', 'web:2']) assert.deepEqual(await diffIds(target, name), a.layers.map((l) => l.diffId));
  });

  it('loads a docker 20.10 save layout: uncompressed layer.tar, symlinked layers, gzipped archive', async () => {
    const layerTar = await makeTar({ 'hello.txt': 'hi\n' });
    const diffId = sha256(layerTar);
    const config = JSON.stringify(configFor([{ digest: '', diffId, size: 0, mediaType: '' }, { digest: '', diffId, size: 0, mediaType: '' }]));
    const configHex = sha256(config).slice(7);
    const archive = join(dir, 'docker-save.tar.gz');
    await writeTar(
      archive,
      [
        { name: 'aaaa/VERSION', content: '1.0' },
        { name: 'aaaa/json', content: '{}' },
        { name: 'aaaa/layer.tar', content: layerTar },
        { name: 'bbbb/layer.tar', linkname: '../aaaa/layer.tar' },
        { name: `${configHex}.json`, content: config },
        { name: 'manifest.json', content: JSON.stringify([{ Config: `${configHex}.json`, RepoTags: ['docker.io/library/hello:latest'], Layers: ['aaaa/layer.tar', 'bbbb/layer.tar'] }]) },
        { name: 'repositories', content: '{}' },
      ],
      true,
    );
    assert.deepEqual(await loadImages(target, archive), ['hello:latest']);
    const image = (await target.resolve('hello'))!;
    assert.equal(image.manifestDescriptor.digest.length, 71);
    assert.equal(image.manifest.config.digest, `sha256:${configHex}`);
    assert.deepEqual(image.layers.map((l) => [l.diffId, l.mediaType]), [[diffId, MEDIA_TYPES.ociLayerGzip], [diffId, MEDIA_TYPES.ociLayerGzip]]);
    await run('skopeo', ['inspect', `oci:${target.ociDir}:hello`]);
  });

  it('loads an OCI archive with a nested index and docker media types, naming it by ref.name', async () => {
    const layerTar = await makeTar({ 'x.txt': 'x' });
    const diffId = sha256(layerTar);
    const config = JSON.stringify(configFor([{ digest: diffId, diffId, size: layerTar.length, mediaType: '' }]));
    const manifest = JSON.stringify({
      schemaVersion: 2,
      mediaType: MEDIA_TYPES.dockerManifest,
      config: { mediaType: MEDIA_TYPES.dockerConfig, digest: sha256(config), size: config.length },
      layers: [{ mediaType: 'application/vnd.docker.image.rootfs.diff.tar', digest: diffId, size: layerTar.length }],
    });
    const missing: Descriptor = { mediaType: MEDIA_TYPES.dockerManifest, digest: sha256('absent'), size: 6, platform: { architecture: 's390x', os: 'linux' } };
    const nested = JSON.stringify({
      schemaVersion: 2,
      mediaType: MEDIA_TYPES.ociIndex,
      manifests: [missing, { mediaType: MEDIA_TYPES.dockerManifest, digest: sha256(manifest), size: manifest.length, platform: { architecture: 'amd64', os: 'linux' } }],
    });
    const index = JSON.stringify({
      schemaVersion: 2,
      manifests: [{ mediaType: MEDIA_TYPES.ociIndex, digest: sha256(nested), size: nested.length, annotations: { 'org.opencontainers.image.ref.name': 'nested:1' } }],
    });
    const blob = (content: string | Buffer): TarEntry => ({ name: `blobs/sha256/${sha256(content).slice(7)}`, content });
    const archive = join(dir, 'nested.tar');
    await writeTar(archive, [{ name: 'oci-layout', content: '{"imageLayoutVersion":"1.0.0"}' }, { name: 'index.json', content: index }, blob(nested), blob(manifest), blob(config), blob(layerTar)]);
    assert.deepEqual(await loadImages(target, archive), ['nested:1']);
    const image = (await target.resolve('nested:1'))!;
    assert.equal(image.manifest.mediaType, MEDIA_TYPES.ociManifest);
    assert.equal(image.manifest.config.mediaType, MEDIA_TYPES.ociConfig);
    assert.deepEqual(image.layers.map((l) => [l.diffId, l.mediaType]), [[diffId, MEDIA_TYPES.ociLayerGzip]]);
    assert.notEqual(image.layers[0]!.digest, diffId);
  });

  it('rejects corrupt archives without tagging anything', async () => {
    const a = await makeImage(source);
    await source.tag('app', a.manifest);
    const good = join(dir, 'good.tar');
    await saveImages(source, ['app'], good, 'oci');
    const bytes = await readFile(good);

    const truncated = join(dir, 'truncated.tar');
    await writeFile(truncated, bytes);
    await truncate(truncated, Math.floor(bytes.length / 2) + 100);
    await expectInvalid(truncated, /truncated|missing|corrupt/);

    const gzTruncated = join(dir, 'truncated.tar.gz');
    await writeFile(gzTruncated, gzipSync(bytes).subarray(0, -10));
    await expectInvalid(gzTruncated, /truncated|corrupt|end of file/);

    const tampered = join(dir, 'tampered.tar');
    const layerHex = a.layers[1]!.digest.slice(7);
    const entries: TarEntry[] = [];
    for await (const entry of (await import('node:fs')).createReadStream(good).pipe(tar.extract())) {
      const chunks: Buffer[] = [];
      for await (const chunk of entry) chunks.push(chunk as Buffer);
      const content = entry.header.name.endsWith(layerHex) ? gzipSync(await makeTar({ evil: 'x' })) : Buffer.concat(chunks);
      entries.push({ name: entry.header.name, content });
    }
    await writeTar(tampered, entries);
    await expectInvalid(tampered, new RegExp(`${layerHex}.*corrupt`));

    const noIndex = join(dir, 'no-index.tar');
    await writeTar(noIndex, entries.filter((e) => e.name !== 'index.json' && e.name !== 'manifest.json'));
    await expectInvalid(noIndex, /neither manifest\.json .* nor index\.json/);

    const dockerMissingLayer = join(dir, 'docker-missing.tar');
    await writeTar(dockerMissingLayer, [{ name: 'manifest.json', content: JSON.stringify([{ Config: 'c.json', RepoTags: ['x:1'], Layers: ['l/layer.tar'] }]) }]);
    await expectInvalid(dockerMissingLayer, /config "c\.json" is missing/);

    const notTar = join(dir, 'not-a-tar');
    await writeFile(notTar, 'hello, this is not a tar archive at all'.repeat(20));
    await expectInvalid(notTar, /load: /);
    assert.deepEqual(await loadImages(target, good), ['app:latest']);
  });
});
