import { strict as assert } from 'node:assert';
import { BuildError } from '../errors.js';
import { configFor, makeLayer, sha256, tempStore } from '../store/test-fixtures.js';
import { buildManifest, canonicalJson, writeImage } from './manifest.js';
import { MEDIA_TYPES, type ImageManifest } from './types.js';

describe('image/manifest', () => {
  it('builds an OCI manifest with compact deterministic JSON', () => {
    const layer = { digest: sha256('l'), diffId: sha256('d'), size: 1, mediaType: MEDIA_TYPES.ociLayerGzip };
    const manifest = buildManifest({ mediaType: 'ignored', digest: sha256('c'), size: 2 }, [layer], { a: 'b' });
    assert.deepEqual(manifest, {
      schemaVersion: 2,
      mediaType: MEDIA_TYPES.ociManifest,
      config: { mediaType: MEDIA_TYPES.ociConfig, digest: sha256('c'), size: 2 },
      layers: [{ mediaType: MEDIA_TYPES.ociLayerGzip, digest: sha256('l'), size: 1 }],
      annotations: { a: 'b' },
    });
    assert.equal(canonicalJson(manifest), canonicalJson(JSON.parse(JSON.stringify(manifest))));
    assert.ok(!canonicalJson(manifest).includes(' '));
    assert.equal(buildManifest({ mediaType: '', digest: sha256('c'), size: 2 }, []).annotations, undefined);
  });

  it('converts every descriptor to the manifest\'s family; the digests stay', () => {
    const docker = { digest: sha256('l'), diffId: sha256('d'), size: 1, mediaType: MEDIA_TYPES.dockerLayerGzip };
    const oci = { ...docker, digest: sha256('m'), mediaType: MEDIA_TYPES.ociLayerGzip };
    const config = { mediaType: MEDIA_TYPES.dockerConfig, digest: sha256('c'), size: 2 };
    const asOci = buildManifest(config, [docker, oci]);
    assert.equal(asOci.config.mediaType, MEDIA_TYPES.ociConfig);
    assert.deepEqual(asOci.layers.map((l) => [l.mediaType, l.digest]), [[MEDIA_TYPES.ociLayerGzip, docker.digest], [MEDIA_TYPES.ociLayerGzip, oci.digest]]);
    const asDocker = buildManifest(config, [docker, oci, { ...oci, mediaType: MEDIA_TYPES.ociLayer }], { a: 'b' }, 'docker');
    assert.equal(asDocker.mediaType, MEDIA_TYPES.dockerManifest);
    assert.equal(asDocker.config.mediaType, MEDIA_TYPES.dockerConfig);
    assert.deepEqual(asDocker.layers.map((l) => l.mediaType), [MEDIA_TYPES.dockerLayerGzip, MEDIA_TYPES.dockerLayerGzip, MEDIA_TYPES.dockerLayer]);
    assert.equal(asDocker.annotations, undefined, 'Docker v2s2 has no annotations');
    assert.throws(() => buildManifest(config, [{ ...oci, mediaType: MEDIA_TYPES.ociLayerZstd }], undefined, 'docker'), /zstd/);
  });

  it('writes config and manifest blobs and returns the manifest descriptor', async () => {
    const { store, cleanup } = await tempStore();
    try {
      const { layer } = await makeLayer(store, { 'a.txt': 'a' });
      const config = configFor([layer]);
      const descriptor = await writeImage(store, config, [layer]);
      assert.equal(descriptor.mediaType, MEDIA_TYPES.ociManifest);
      assert.deepEqual(descriptor.platform, { architecture: 'amd64', os: 'linux' });
      assert.deepEqual(await writeImage(store, config, [layer]), descriptor); // same inputs, same digest
      const manifest = await store.readJson<ImageManifest>(descriptor.digest);
      assert.equal(manifest.config.digest, sha256(canonicalJson(config)));
      assert.deepEqual(await store.readJson(manifest.config.digest), config);
      await assert.rejects(writeImage(store, configFor([]), [layer]), (err: BuildError) => err.code === 'INTERNAL');
    } finally {
      await cleanup();
    }
  });
});
