/**
 * `builder load` unpacks what it loads into snapshots/, as `docker load` does, so a first build FROM the image starts
 * with its lowerdirs on disk (snapshot/unpack-images.ts). Best effort: a layer that loads but cannot be unpacked
 * leaves the image loaded, and the build that needs it reports the problem.
 */
import { strict as assert } from 'node:assert';
import { existsSync, readlinkSync } from 'node:fs';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { busyboxArchive, makeBusyboxArchive } from './helpers/busybox-fixture.js';
import { expectSuccess, runCli } from './helpers/cli.js';
import { makeTempDir, removeTempDir } from './helpers/temp-root.js';

describe('builder load unpacks the loaded layers', function () {
  this.timeout(60_000);
  let scratch = '';
  before(async function () {
    if (process.getuid?.() !== 0) { console.log('    skipped: unpacking (and building) needs root'); this.skip(); }
    scratch = await makeTempDir('load-unpack-');
  });
  after(async () => { if (scratch) await removeTempDir(scratch); });

  it('a loaded image has its snapshot on disk before any build, and builds from it', async () => {
    const root = path.join(scratch, 'root-ok');
    expectSuccess(await runCli(['load', '-i', await busyboxArchive(scratch)], { root }), 'load');
    const snapshots = await readdir(path.join(root, 'snapshots'));
    assert.equal(snapshots.length, 1, `snapshots: ${snapshots.join(', ')}`);
    const snapshot = path.join(root, 'snapshots', snapshots[0]!);
    assert.ok(existsSync(path.join(snapshot, 'bin', 'busybox')));
    assert.equal(readlinkSync(path.join(snapshot, 'bin', 'sh')), 'busybox');
    const context = path.join(scratch, 'ctx');
    await mkdir(context, { recursive: true });
    await writeFile(path.join(context, 'Dockerfile'), 'FROM busybox\nRUN echo built > /built\n');
    expectSuccess(await runCli(['build', '-t', 'after-load', '--progress', 'plain', context], { root }), 'build');
    assert.equal((await readdir(path.join(root, 'snapshots'))).length, 2, 'the build extracted nothing more than its own layer');
  });

  it('a layer that cannot be unpacked still loads; the build reports it', async () => {
    const root = path.join(scratch, 'root-bad');
    // A device node passes the load's digest checks but extraction refuses it (images carry no device nodes).
    const archiveDir = path.join(scratch, 'bad-archive');
    await mkdir(archiveDir, { recursive: true });
    const archive = await makeBusyboxArchive(archiveDir, 'bad:1', [
      { header: { name: 'dev/evil', type: 'character-device', mode: 0o600, uid: 0, gid: 0, devmajor: 1, devminor: 1 } },
    ]);
    const loaded = expectSuccess(await runCli(['load', '-i', archive], { root }), 'load');
    assert.match(loaded.stdout, /Loaded image: bad:1/);
    assert.deepEqual(existsSync(path.join(root, 'snapshots')) ? await readdir(path.join(root, 'snapshots')) : [], []);
    const context = path.join(scratch, 'ctx-bad');
    await mkdir(context, { recursive: true });
    await writeFile(path.join(context, 'Dockerfile'), 'FROM bad:1\nRUN true\n');
    const build = await runCli(['build', '-t', 'from-bad', '--progress', 'plain', context], { root });
    assert.equal(build.code, 1, build.stderr);
    assert.match(build.stderr, /device node/);
  });
});
