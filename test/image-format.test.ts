/**
 * Manifests every OCI tool accepts: images built on a base that a registry serves as Docker v2 schema 2
 * and on an OCI base, pushed, pulled back, inspected by skopeo, copied to an OCI layout and unpacked by
 * umoci; `oci-mediatypes=false` gives a Docker v2s2 manifest throughout. Every manifest, index and config
 * seen here is validated against the OCI image-spec schemas (test/helpers/oci-validate.ts).
 */
import { strict as assert } from 'node:assert';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { busyboxArchive } from './helpers/busybox-fixture.js';
import { expectSuccess, runCli, runCommand } from './helpers/cli.js';
import { DOCKER, OCI, validateLayout, validateRegistryImage } from './helpers/oci-validate.js';
import { startRegistry, type RegistryServer } from './helpers/registry-server.js';
import { makeTempDir, removeTempDir } from './helpers/temp-root.js';

interface RawManifest {
  mediaType: string;
  config: { mediaType: string };
  layers: { mediaType: string; digest: string }[];
}

const tools = ['/usr/bin/skopeo', '/usr/bin/umoci'];

describe('image format: media types every OCI tool accepts', function () {
  this.timeout(180_000);
  let work = '';
  let root = '';
  let registry: RegistryServer;

  const rawManifest = async (ref: string): Promise<RawManifest> =>
    JSON.parse(expectSuccess(await runCommand('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${ref}`]), `skopeo inspect --raw ${ref}`).stdout) as RawManifest;
  const assertValid = (problems: string[]): void => assert.deepEqual(problems, [], problems.join('\n'));

  /** skopeo copy to an OCI layout, then umoci unpack: the path that failed with "blob is not correct mediatype". */
  async function unpackWithUmoci(source: string, name: string): Promise<string> {
    const layout = path.join(work, `layout-${name}`);
    expectSuccess(await runCommand('skopeo', ['copy', '--quiet', '--src-tls-verify=false', source, `oci:${layout}:${name}`]), `skopeo copy ${source}`);
    assertValid(await validateLayout(layout));
    const bundle = path.join(work, `bundle-${name}`);
    expectSuccess(await runCommand('umoci', ['unpack', '--image', `${layout}:${name}`, bundle]), `umoci unpack ${name}`);
    return path.join(bundle, 'rootfs');
  }

  async function context(name: string, dockerfile: string): Promise<string> {
    const dir = path.join(work, `ctx-${name}`);
    await mkdir(dir, { recursive: true });
    await writeFile(path.join(dir, 'Dockerfile'), dockerfile);
    return dir;
  }

  before(async function () {
    const missing = tools.filter((tool) => !existsSync(tool));
    if (missing.length > 0 || process.getuid?.() !== 0) {
      console.log(`      image format SKIPPED: needs root and ${tools.join(', ')} (missing: ${missing.join(', ') || 'root'})`);
      this.skip();
    }
    work = await makeTempDir('image-format');
    root = path.join(work, 'root');
    registry = await startRegistry();
    const archive = await busyboxArchive(work);
    // skopeo keeps a docker-archive's Docker v2s2 format; --format oci gives the OCI twin of the same base.
    expectSuccess(await runCommand('skopeo', ['copy', '--quiet', '--dest-tls-verify=false', `docker-archive:${archive}`, `docker://${registry.host}/base/busybox:docker`]), 'push v2s2 base');
    expectSuccess(await runCommand('skopeo', ['copy', '--quiet', '--dest-tls-verify=false', '--format', 'oci', `docker-archive:${archive}`, `docker://${registry.host}/base/busybox:oci`]), 'push OCI base');
  });
  after(async function () {
    await registry?.stop();
    if (work) await removeTempDir(work);
  });

  it('the bases are served in the two formats', async function () {
    const docker = await rawManifest(`${registry.host}/base/busybox:docker`);
    assert.equal(docker.mediaType, DOCKER.manifest);
    assert.ok(docker.layers.every((layer) => layer.mediaType === DOCKER.layers[0]), JSON.stringify(docker.layers));
    assert.equal((await rawManifest(`${registry.host}/base/busybox:oci`)).mediaType, OCI.manifest);
  });

  for (const base of ['docker', 'oci'] as const) {
    it(`FROM a ${base} base: OCI manifest with OCI types only, in the store, pushed, saved; umoci unpacks it`, async function () {
      const ref = `${registry.host}/app/on-${base}:v1`;
      const dir = await context(base, `FROM ${registry.host}/base/busybox:${base}\nRUN echo built-on-${base} > /marker\n`);
      expectSuccess(await runCli(['build', '--progress=plain', '--push', '-t', ref, dir], { root }), 'build --push');
      assertValid(await validateLayout(path.join(root, 'oci')));

      const pushed = await rawManifest(ref);
      assert.equal(pushed.mediaType, OCI.manifest);
      assert.equal(pushed.config.mediaType, OCI.config);
      assert.deepEqual(pushed.layers.map((l) => l.mediaType), [OCI.layers[1], OCI.layers[1]]);
      const baseLayer = (await rawManifest(`${registry.host}/base/busybox:${base}`)).layers[0]!;
      assert.equal(pushed.layers[0]!.digest, baseLayer.digest, 'converting the media type keeps the blob and its digest');
      assertValid(await validateRegistryImage(registry.host, `app/on-${base}`, 'v1'));

      const rootfs = await unpackWithUmoci(`docker://${ref}`, `pushed-${base}`);
      assert.equal(await readFile(path.join(rootfs, 'marker'), 'utf8'), `built-on-${base}\n`);
      assert.ok(existsSync(path.join(rootfs, 'bin', 'busybox')));
      await unpackWithUmoci(`oci:${path.join(root, 'oci')}:${ref}`, `store-${base}`);

      const saved = path.join(work, `saved-${base}`);
      expectSuccess(await runCli(['save', '-o', `${saved}.tar`, ref], { root }), 'builder save');
      await mkdir(saved);
      expectSuccess(await runCommand('tar', ['-xf', `${saved}.tar`, '-C', saved]), 'untar the archive');
      assertValid(await validateLayout(saved));
      await unpackWithUmoci(`oci:${saved}:${ref}`, `saved-${base}`);
    });
  }

  it('pull of a pushed image and a rebuild on it stay OCI', async function () {
    const pulledRoot = path.join(work, 'pulled-root');
    expectSuccess(await runCli(['pull', `${registry.host}/app/on-docker:v1`], { root: pulledRoot }), 'builder pull');
    const dir = await context('again', `FROM ${registry.host}/app/on-docker:v1\nRUN cat /marker > /copied\n`);
    const ref = `${registry.host}/app/again:v1`;
    expectSuccess(await runCli(['build', '--progress=plain', '--push', '-t', ref, dir], { root: pulledRoot }), 'rebuild');
    assertValid(await validateLayout(path.join(pulledRoot, 'oci')));
    assert.equal((await rawManifest(ref)).mediaType, OCI.manifest);
    const inspected = JSON.parse(expectSuccess(await runCommand('skopeo', ['inspect', '--tls-verify=false', `docker://${ref}`]), 'skopeo inspect').stdout) as { Layers: string[] };
    assert.equal(inspected.Layers.length, 3);
  });

  it('builder save of a base pulled as Docker v2s2 writes an OCI twin manifest that umoci unpacks', async function () {
    const pulledRoot = path.join(work, 'pulled-v2s2');
    const ref = `${registry.host}/base/busybox:docker`;
    expectSuccess(await runCli(['pull', ref], { root: pulledRoot }), 'builder pull');
    const saved = path.join(work, 'saved-v2s2');
    expectSuccess(await runCli(['save', '-o', `${saved}.tar`, ref], { root: pulledRoot }), 'builder save');
    await mkdir(saved);
    expectSuccess(await runCommand('tar', ['-xf', `${saved}.tar`, '-C', saved]), 'untar');
    assertValid(await validateLayout(saved));
    const index = JSON.parse(await readFile(path.join(saved, 'index.json'), 'utf8')) as { manifests: { mediaType: string }[] };
    assert.deepEqual(index.manifests.map((m) => m.mediaType), [OCI.manifest]);
    const bundle = path.join(work, 'bundle-saved-v2s2');
    expectSuccess(await runCommand('umoci', ['unpack', '--image', `${saved}:${ref}`, bundle]), 'umoci unpack');
    assert.ok(existsSync(path.join(bundle, 'rootfs', 'bin', 'busybox')));
    // The store keeps the pulled manifest as the registry served it (pull by digest stays valid).
    assertValid(await validateLayout(path.join(pulledRoot, 'oci')));
  });

  it('oci-mediatypes=false writes a Docker v2s2 manifest throughout: store, push, --output type=oci', async function () {
    const ref = `${registry.host}/app/docker-types:v1`;
    const archive = path.join(work, 'docker-types.tar');
    const dir = await context('v2s2', `FROM ${registry.host}/base/busybox:oci\nRUN echo v2s2 > /marker\n`);
    expectSuccess(await runCli(['build', '--progress=plain', '--output', `type=image,name=${ref},push=true,oci-mediatypes=false`,
      '--output', `type=oci,dest=${archive},oci-mediatypes=false`, dir], { root }), 'build with oci-mediatypes=false');
    const pushed = await rawManifest(ref);
    assert.equal(pushed.mediaType, DOCKER.manifest);
    assert.equal(pushed.config.mediaType, DOCKER.config);
    assert.deepEqual(pushed.layers.map((l) => l.mediaType), [DOCKER.layers[0], DOCKER.layers[0]]);
    assertValid(await validateRegistryImage(registry.host, 'app/docker-types', 'v1'));
    assertValid(await validateLayout(path.join(root, 'oci')));
    const extracted = path.join(work, 'docker-types');
    await mkdir(extracted);
    expectSuccess(await runCommand('tar', ['-xf', archive, '-C', extracted]), 'untar');
    assertValid(await validateLayout(extracted));
    // skopeo converts v2s2 to OCI on the way into a layout; umoci then unpacks it.
    const rootfs = await unpackWithUmoci(`docker://${ref}`, 'v2s2');
    assert.equal(await readFile(path.join(rootfs, 'marker'), 'utf8'), 'v2s2\n');
  });

  it('refuses outputs that disagree on the media types', async function () {
    const dir = await context('conflict', 'FROM scratch\nLABEL a=b\n');
    const result = await runCli(['build', '--output', 'type=image,oci-mediatypes=false', '--output', `type=oci,dest=${path.join(work, 'x.tar')},oci-mediatypes=true`, dir], { root });
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /one manifest format/);
  });
});
