/**
 * zstd layers end to end: `--output type=image,…,compression=zstd` writes application/vnd.oci.image.layer.v1.tar+zstd
 * blobs into the store and the registry; skopeo reads them (copies them as they are, and decompresses them into
 * gzip for umoci 0.4, which predates zstd); builder pulls the image back from a loopback docker-registry and
 * builds on it (the zstd layer is extracted and its diffId checked); the same build gives the same digest.
 */
import { strict as assert } from 'node:assert';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { busyboxArchive } from './helpers/busybox-fixture.js';
import { expectSuccess, runCli, runCommand } from './helpers/cli.js';
import { OCI, validateLayout, validateRegistryImage } from './helpers/oci-validate.js';
import { startRegistry, type RegistryServer } from './helpers/registry-server.js';
import { makeTempDir, removeTempDir } from './helpers/temp-root.js';

interface RawManifest {
  mediaType: string;
  layers: { mediaType: string; digest: string }[];
}

const ZSTD = 'application/vnd.oci.image.layer.v1.tar+zstd';
const tools = ['/usr/bin/skopeo', '/usr/bin/umoci', '/usr/bin/zstd'];

describe('zstd layers: --output compression=zstd, read by skopeo/umoci, pulled back', function () {
  this.timeout(180_000);
  let work = '';
  let root = '';
  let registry: RegistryServer;
  let dir = '';

  const assertValid = (problems: string[]): void => assert.deepEqual(problems, [], problems.join('\n'));
  const raw = async (ref: string): Promise<RawManifest> =>
    JSON.parse(expectSuccess(await runCommand('skopeo', ['inspect', '--raw', '--tls-verify=false', ref]), `skopeo inspect --raw ${ref}`).stdout) as RawManifest;
  const build = async (args: string[], buildRoot = root): Promise<string> =>
    expectSuccess(await runCli(['build', '--progress=plain', ...args, dir], { root: buildRoot }), `build ${args.join(' ')}`).stdout.trim();

  before(async function () {
    const missing = tools.filter((tool) => !existsSync(tool));
    if (missing.length > 0 || process.getuid?.() !== 0) {
      console.log(`      zstd layers SKIPPED: needs root and ${tools.join(', ')} (missing: ${missing.join(', ') || 'root'})`);
      this.skip();
    }
    work = await makeTempDir('zstd-layers');
    root = path.join(work, 'root');
    registry = await startRegistry();
    const archive = await busyboxArchive(work);
    expectSuccess(await runCommand('skopeo', ['copy', '--quiet', '--dest-tls-verify=false', '--format', 'oci', `docker-archive:${archive}`, `docker://${registry.host}/base/busybox:oci`]), 'push OCI base');
    dir = path.join(work, 'ctx');
    await mkdir(dir, { recursive: true });
    await writeFile(path.join(dir, 'Dockerfile'), `FROM ${registry.host}/base/busybox:oci\nRUN seq 1 20000 > /numbers && echo zstd > /marker\nCOPY Dockerfile /Dockerfile.copy\n`);
  });
  after(async function () {
    await registry?.stop();
    if (work) await removeTempDir(work);
  });

  it('writes zstd layers (base layers kept) into the store and the registry; the same build gives the same digest', async function () {
    const ref = `${registry.host}/app/zstd:v1`;
    const gzipDigest = await build(['-t', 'app:gzip']);
    const digest = await build(['--output', `type=image,name=${ref},push=true,compression=zstd`]);
    assert.notEqual(digest, gzipDigest, 'other layer blobs, other manifest');
    const stored = await raw(`oci:${path.join(root, 'oci')}:${ref}`);
    assert.deepEqual(stored.layers.map((layer) => layer.mediaType), [OCI.layers[1], ZSTD, ZSTD]);
    const base = await raw(`docker://${registry.host}/base/busybox:oci`);
    assert.equal(stored.layers[0]!.digest, base.layers[0]!.digest, 'without force-compression the base layer keeps its blob');
    assertValid(await validateLayout(path.join(root, 'oci')));
    const pushed = await raw(`docker://${ref}`);
    assert.deepEqual(pushed, stored);
    assertValid(await validateRegistryImage(registry.host, 'app/zstd', 'v1'));
    // Cached steps, converted again: the zstd bytes depend only on the tar and the level.
    assert.equal(await build(['--output', 'type=image,name=app:zstd-again,compression=zstd']), digest);
    // The gzip image of the same build is untouched by the zstd output.
    assert.equal(await build(['-t', 'app:gzip']), gzipDigest);
  });

  it('force-compression and compression-level reach every layer; bad settings are refused', async function () {
    const digest = await build(['--output', 'type=image,name=app:forced,compression=zstd,compression-level=19,force-compression=true']);
    const forced = await raw(`oci:${path.join(root, 'oci')}:app:forced`);
    assert.deepEqual(forced.layers.map((layer) => layer.mediaType), [ZSTD, ZSTD, ZSTD]);
    const level3 = await raw(`oci:${path.join(root, 'oci')}:${registry.host}/app/zstd:v1`);
    assert.notEqual(forced.layers[1]!.digest, level3.layers[1]!.digest, 'level 19 is other bytes than level 3');
    assert.match(digest, /^sha256:/);
    for (const [output, message] of [
      ['type=image,compression=zstd,oci-mediatypes=false', /zstd-compressed layer cannot be written with Docker media types/],
      ['type=image,compression=zstd,compression-level=23', /compression-level must be an integer 1-22/],
      ['type=image,compression=brotli', /invalid --output compression "brotli"/],
      ['type=image,compression-level=3', /need compression=/],
    ] as const) {
      const result = await runCli(['build', '--output', output, dir], { root });
      assert.notEqual(result.code, 0, output);
      assert.match(result.stderr, message);
    }
  });

  it('skopeo copies the zstd image as it is, and decompresses it for umoci, which unpacks the files', async function () {
    const source = `oci:${path.join(root, 'oci')}:${registry.host}/app/zstd:v1`;
    const asIs = path.join(work, 'layout-zstd');
    expectSuccess(await runCommand('skopeo', ['copy', '--quiet', source, `oci:${asIs}:app`]), 'skopeo copy (as is)');
    assert.deepEqual((await raw(`oci:${asIs}:app`)).layers.map((layer) => layer.mediaType), [OCI.layers[1], ZSTD, ZSTD]);
    assertValid(await validateLayout(asIs));
    const gzipped = path.join(work, 'layout-gzip');
    expectSuccess(await runCommand('skopeo', ['copy', '--quiet', '--dest-compress', '--dest-compress-format', 'gzip', source, `oci:${gzipped}:app`]), 'skopeo copy to gzip');
    const bundle = path.join(work, 'bundle');
    expectSuccess(await runCommand('umoci', ['unpack', '--image', `${gzipped}:app`, bundle]), 'umoci unpack');
    assert.equal(await readFile(path.join(bundle, 'rootfs', 'marker'), 'utf8'), 'zstd\n');
    assert.equal((await readFile(path.join(bundle, 'rootfs', 'numbers'), 'utf8')).split('\n')[19_999], '20000');
  });

  it('builder pulls the zstd image from the registry and builds on it', async function () {
    const pulledRoot = path.join(work, 'pulled');
    const ref = `${registry.host}/app/zstd:v1`;
    expectSuccess(await runCli(['pull', ref], { root: pulledRoot }), 'builder pull');
    const onTop = path.join(work, 'ctx-on-top');
    await mkdir(onTop, { recursive: true });
    await writeFile(path.join(onTop, 'Dockerfile'), `FROM ${ref}\nRUN test "$(cat /marker)" = zstd && tail -n 1 /numbers > /last\n`);
    expectSuccess(await runCli(['build', '--progress=plain', '-t', 'on-top', onTop], { root: pulledRoot }), 'build FROM the zstd image');
    const run = expectSuccess(await runCli(['run', '--rm', 'on-top', 'cat', '/last'], { root: pulledRoot }), 'run on the result');
    assert.equal(run.stdout.trim(), '20000');
    assertValid(await validateLayout(path.join(pulledRoot, 'oci')));
  });
});
