/**
 * Pull and push progress as docker prints it, against a real registry: without a terminal one line per layer
 * (`Pushed`, `Layer already exists`, `Mounted from`, `Pull complete`, `Already exists`); on a terminal (tmux) the
 * same lines drawn in place. `build --push --metadata-file` writes buildx's JSON naming what was pushed.
 */
import { strict as assert } from 'node:assert';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { makeFixtureRoot } from './helpers/busybox-fixture.js';
import { cliMain, expectSuccess, runCli, runCommand } from './helpers/cli.js';
import { startRegistry, type RegistryServer } from './helpers/registry-server.js';
import { makeTempDir, removeTempDir } from './helpers/temp-root.js';
import { TmuxScreen, tmuxAvailable } from './helpers/tmux.js';

describe('transfer progress and --metadata-file (real docker-registry)', function () {
  this.timeout(120_000);
  let work: string;
  let root: string;
  let registry: RegistryServer;
  let context: string;

  before(async function () {
    if (process.getuid?.() !== 0) {
      console.log('      skipped: building needs root (runc, overlayfs)');
      this.skip();
    }
    work = await makeTempDir('transfer-progress');
    root = await makeFixtureRoot('transfer-progress-root', work);
    registry = await startRegistry();
    context = path.join(work, 'ctx');
    await mkdir(context, { recursive: true });
    await writeFile(path.join(context, 'Dockerfile'), 'FROM busybox\nRUN echo layer > /layer.txt\n');
  });
  after(async function () {
    await registry?.stop();
    if (root) await removeTempDir(root);
    if (work) await removeTempDir(work);
  });

  it('build --push prints one line per layer and --metadata-file has the pushed digest', async function () {
    const ref = `${registry.host}/team/app:v1`;
    const metadataFile = path.join(work, 'metadata.json');
    const built = expectSuccess(await runCli(['build', '-t', ref, '--push', '--metadata-file', metadataFile, context], { root }), 'build --push');
    assert.match(built.stderr, new RegExp(`^The push refers to repository \\[${registry.host}/team/app\\]$`, 'm'));
    assert.equal(built.stderr.match(/^[0-9a-f]{12}: Pushed$/gm)?.length, 2, built.stderr);
    const digest = built.stdout.trim();
    const metadata = JSON.parse(await readFile(metadataFile, 'utf8')) as Record<string, unknown>;
    assert.equal(metadata['containerimage.digest'], digest);
    assert.equal(metadata['image.name'], ref);
    assert.deepEqual(metadata['builder.pushed'], [`${ref}@${digest}`]);
    const descriptor = metadata['containerimage.descriptor'] as { digest: string; mediaType: string; size: number };
    assert.equal(descriptor.digest, digest);
    assert.equal(descriptor.mediaType, 'application/vnd.oci.image.manifest.v1+json');
    const inspected = JSON.parse(expectSuccess(await runCommand('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${ref}`]), 'skopeo').stdout) as { config: { digest: string } };
    assert.equal(metadata['containerimage.config.digest'], inspected.config.digest);

    const again = expectSuccess(await runCli(['push', ref], { root }), 'push again');
    assert.equal(again.stderr.match(/^[0-9a-f]{12}: Layer already exists$/gm)?.length, 2, again.stderr);
    const mounted = expectSuccess(await runCli(['push', ref, `${registry.host}/other/app:v1`], { root }), 'push elsewhere');
    assert.equal(mounted.stderr.match(/^[0-9a-f]{12}: Mounted from team\/app$/gm)?.length, 2, mounted.stderr);

    const fresh = path.join(work, 'fresh');
    const pulled = expectSuccess(await runCli(['pull', ref], { root: fresh }), 'pull');
    assert.equal(pulled.stderr.match(/^[0-9a-f]{12}: Pull complete$/gm)?.length, 2, pulled.stderr);
    const repeat = expectSuccess(await runCli(['pull', ref], { root: fresh }), 'pull again');
    assert.equal(repeat.stderr.match(/^[0-9a-f]{12}: Already exists$/gm)?.length, 2, repeat.stderr);
  });

  it('a FROM pull inside a build shows its layers: one line each when piped, a collapsing step on a terminal', async function () {
    const base = `${registry.host}/team/app:v1`;
    const dir = path.join(work, 'from-pull');
    await mkdir(dir, { recursive: true });
    await writeFile(path.join(dir, 'Dockerfile'), `FROM ${base}\nRUN echo on-top > /top\n`);
    const piped = expectSuccess(await runCli(['build', dir], { root: path.join(work, 'from-root-1') }), 'build FROM a registry image');
    assert.equal(piped.stderr.match(new RegExp(`^pull ${base.replace(/[.]/g, '\\.')}: [0-9a-f]{12}: Pull complete$`, 'gm'))?.length, 2, piped.stderr);
    if (!tmuxAvailable()) return;
    const screen = await TmuxScreen.start(`node ${cliMain} build ${dir}`, 120, 30, { BUILDER_ROOT: path.join(work, 'from-root-2'), BUILDER_LOOPBACK_ONLY: '1' });
    try {
      const last = await screen.waitFor((s) => s.includes('[exit 0]'), 'the build');
      assert.match(last, new RegExp(`^ => \\[internal\\] pull ${base.replace(/[.]/g, '\\.')}\\s+\\d+\\.\\ds$`, 'm'), last);
      assert.match(last, /FINISHED/);
    } finally {
      await screen.stop();
    }
  });

  it('shows a moving bar with bytes and a rate while a large layer downloads', async function () {
    if (!tmuxAvailable()) {
      console.log('      skipped: tmux is not installed');
      this.skip();
    }
    const ref = `${registry.host}/team/big:1`;
    const dir = path.join(work, 'big');
    await mkdir(dir, { recursive: true });
    // Random bytes do not compress: a 120 MB blob takes long enough on loopback for the screen to catch it moving.
    await writeFile(path.join(dir, 'Dockerfile'), 'FROM busybox\nRUN head -c 120000000 /dev/urandom > /big\n');
    expectSuccess(await runCli(['build', '-q', '-t', ref, '--push', dir], { root }), 'build and push a large layer');
    const screen = await TmuxScreen.start(`node ${cliMain} pull ${ref}`, 120, 30, { BUILDER_ROOT: path.join(work, 'big-root'), BUILDER_LOOPBACK_ONLY: '1' });
    try {
      const moving = await screen.waitFor((s) => /Downloading \[=*>? *\] [\d.]+[kMG]?B\/120MB/.test(s), 'a download bar', 30_000);
      assert.match(moving, /^[0-9a-f]{12}: Downloading \[={0,49}> *\] [\d.]+[kM]?B\/120MB( [\d.]+[kMG]?B\/s)?$/m);
      const last = await screen.waitFor((s) => s.includes('[exit 0]'), 'the pull');
      assert.equal(last.match(/^[0-9a-f]{12}: Pull complete\s*$/gm)?.length, 2, last);
      assert.ok(!last.includes('Downloading'), 'finished layers replace their bars');
    } finally {
      await screen.stop();
    }
  });

  it('draws the per-layer lines on a terminal', async function () {
    if (!tmuxAvailable()) {
      console.log('      skipped: tmux is not installed');
      this.skip();
    }
    const ref = `${registry.host}/team/app:v1`;
    const fresh = path.join(work, 'tty-root');
    const screen = await TmuxScreen.start(`node ${cliMain} pull ${ref}`, 120, 30, { BUILDER_ROOT: fresh, BUILDER_LOOPBACK_ONLY: '1' });
    try {
      const last = await screen.waitFor((s) => s.includes('[exit 0]'), 'the pull');
      assert.equal(last.match(/^[0-9a-f]{12}: Pull complete\s*$/gm)?.length, 2, last);
      assert.match(last, /^Digest: sha256:[0-9a-f]{64}$/m);
    } finally {
      await screen.stop();
    }
  });
});
