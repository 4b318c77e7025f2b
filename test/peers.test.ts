/**
 * Peers read what we write: skopeo and umoci open the store's OCI layout, docker loads what
 * `builder save` writes, and `builder load` takes what `docker save` writes.
 */
import { strict as assert } from 'node:assert';
import { cp, mkdir, readFile, writeFile } from 'node:fs/promises';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { loadBusyboxFixture } from './helpers/busybox-fixture.js';
import { expectSuccess, runCli, runCommand } from './helpers/cli.js';
import { DOCKER, dockerReachable } from './helpers/docker-oracle-engine.js';
import { validateArchive } from './helpers/oci-validate.js';
import { makeTempDir, removeTempDir } from './helpers/temp-root.js';

const IMAGE = 'peer-app';
const DOCKERFILE = `FROM busybox
COPY hello.txt /hello.txt
RUN echo from-run > /run.txt
ENV PEER=yes
CMD ["cat", "/hello.txt"]
`;

/** A legitimate skip: without dockerd there is nothing to hand the archive to. */
function skipNoDocker(context: Mocha.Context): never {
  console.log(`      skipped: dockerd is not running (\`${DOCKER} info\` failed)`);
  context.skip();
}

interface SkopeoInspect {
  Digest: string;
  Layers: string[];
  Env?: string[];
}

describe('peers read our images', function () {
  this.timeout(180_000);
  let root = '';
  let work = '';
  let manifestDigest = '';
  let dockerUp = false;
  const dockerTags: string[] = [];

  before(async function () {
    root = await makeTempDir('peers-root');
    work = await makeTempDir('peers-work');
    await loadBusyboxFixture(root, work);
    const context = path.join(work, 'context');
    await writeFile(path.join(work, 'Dockerfile'), DOCKERFILE);
    await mkdir(context, { recursive: true });
    await writeFile(path.join(context, 'hello.txt'), 'hello peers\n');
    const build = expectSuccess(await runCli(['build', '-t', IMAGE, '-f', path.join(work, 'Dockerfile'), context], { root }), 'builder build');
    manifestDigest = build.stdout.trim().split('\n').pop() ?? '';
    assert.match(manifestDigest, /^sha256:[0-9a-f]{64}$/, `build should print the image id: ${build.stdout}`);
    dockerUp = await dockerReachable();
  });

  after(async function () {
    for (const tag of dockerTags) await runCommand(DOCKER, ['rmi', '-f', tag]);
    await removeTempDir(root);
    await removeTempDir(work);
  });

  it('builder inspect reports the manifest digest the build printed', async function () {
    const inspect = expectSuccess(await runCli(['inspect', IMAGE], { root }), 'builder inspect');
    const [image] = JSON.parse(inspect.stdout) as { Digest: string; RootFS: { Layers: string[] } }[];
    assert.equal(image!.Digest, manifestDigest);
    assert.equal(image!.RootFS.Layers.length, 3, 'busybox layer + COPY + RUN');
  });

  for (const ref of [`${IMAGE}:latest`, IMAGE]) {
    it(`skopeo inspect oci:$ROOT/oci:${ref}`, async function () {
      const result = expectSuccess(await runCommand('skopeo', ['inspect', `oci:${path.join(root, 'oci')}:${ref}`]), 'skopeo inspect');
      const info = JSON.parse(result.stdout) as SkopeoInspect;
      assert.equal(info.Digest, manifestDigest);
      assert.equal(info.Layers.length, 3);
      assert.ok(info.Env?.includes('PEER=yes'), `Env: ${JSON.stringify(info.Env)}`);
    });
  }

  it('skopeo copies the image out of the layout (every blob verifies)', async function () {
    const dest = path.join(work, 'skopeo-dir');
    expectSuccess(await runCommand('skopeo', ['copy', `oci:${path.join(root, 'oci')}:${IMAGE}:latest`, `dir:${dest}`]), 'skopeo copy');
    const manifest = JSON.parse(await readFile(path.join(dest, 'manifest.json'), 'utf8')) as { layers: unknown[] };
    assert.equal(manifest.layers.length, 3);
  });

  it('umoci unpacks the image into a runtime bundle with our files', async function () {
    // umoci takes a lock and may write into the layout: give it a copy, never the store itself.
    const layout = path.join(work, 'umoci-layout');
    await cp(path.join(root, 'oci'), layout, { recursive: true });
    const bundle = path.join(work, 'bundle');
    expectSuccess(await runCommand('umoci', ['unpack', '--image', `${layout}:${IMAGE}:latest`, bundle]), 'umoci unpack');
    assert.equal(await readFile(path.join(bundle, 'rootfs', 'hello.txt'), 'utf8'), 'hello peers\n');
    assert.equal(await readFile(path.join(bundle, 'rootfs', 'run.txt'), 'utf8'), 'from-run\n');
    const runtime = JSON.parse(await readFile(path.join(bundle, 'config.json'), 'utf8')) as { process: { args: string[]; env: string[] } };
    assert.deepEqual(runtime.process.args, ['cat', '/hello.txt']);
    assert.ok(runtime.process.env.includes('PEER=yes'));
  });

  for (const format of ['oci', 'docker'] as const) {
    it(`builder save --format ${format} → docker load → docker run`, async function () {
      if (!dockerUp) skipNoDocker(this);
      const tag = `builder-peer-${format}-${randomUUID().slice(0, 8)}:latest`;
      expectSuccess(await runCli(['tag', IMAGE, tag], { root }), 'builder tag');
      const archive = path.join(work, `save-${format}.tar`);
      expectSuccess(await runCli(['save', '-o', archive, '--format', format, tag], { root }), 'builder save');
      assert.deepEqual(await validateArchive(archive, work), []);
      dockerTags.push(tag);
      const load = expectSuccess(await runCommand(DOCKER, ['load', '-i', archive]), 'docker load');
      assert.match(load.stdout, new RegExp(tag.replace(/[.:]/g, '\\$&')));
      const run = expectSuccess(await runCommand(DOCKER, ['run', '--rm', '--network=none', tag]), 'docker run');
      assert.equal(run.stdout, 'hello peers\n');
      const env = expectSuccess(await runCommand(DOCKER, ['run', '--rm', '--network=none', tag, 'cat', '/run.txt']), 'docker run');
      assert.equal(env.stdout, 'from-run\n');
    });
  }

  it('builder save with no --format writes an archive docker can load', async function () {
    if (!dockerUp) skipNoDocker(this);
    const tag = `builder-peer-default-${randomUUID().slice(0, 8)}:latest`;
    expectSuccess(await runCli(['tag', IMAGE, tag], { root }), 'builder tag');
    const archive = path.join(work, 'save-default.tar');
    expectSuccess(await runCli(['save', '-o', archive, tag], { root }), 'builder save');
    dockerTags.push(tag);
    expectSuccess(await runCommand(DOCKER, ['load', '-i', archive]), 'docker load');
    const run = expectSuccess(await runCommand(DOCKER, ['run', '--rm', '--network=none', tag, 'cat', '/hello.txt']), 'docker run');
    assert.equal(run.stdout, 'hello peers\n');
  });

  it('docker save busybox → builder load → builder run', async function () {
    if (!dockerUp) skipNoDocker(this);
    const freshRoot = await makeTempDir('peers-docker-load');
    try {
      const archive = path.join(work, 'docker-busybox.tar');
      expectSuccess(await runCommand(DOCKER, ['save', '-o', archive, 'busybox:latest']), 'docker save');
      const load = expectSuccess(await runCli(['load', '-i', archive], { root: freshRoot }), 'builder load');
      assert.match(load.stdout, /Loaded image: busybox:latest/);
      const run = await runCli(['run', '--rm', 'busybox', 'sh', '-c', 'echo loaded from docker; exit 5'], { root: freshRoot });
      assert.equal(run.code, 5, run.stderr);
      assert.equal(run.stdout, 'loaded from docker\n');
    } finally {
      await removeTempDir(freshRoot);
    }
  });
});
