/**
 * GC through the real CLI on a real store: prune after rmi, --all, --keep-storage LRU order, system df
 * against du, the automatic GC, and a prune while a build runs.
 */
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { makeFixtureRoot } from '../../test/helpers/busybox-fixture.js';
import { cliMain, expectSuccess, runCli, runCommand, type CliResult } from '../../test/helpers/cli.js';
import { makeTempDir, removeTempDir } from '../../test/helpers/temp-root.js';
import type { DiskUsage } from './gc-df.js';

const NO_GRACE = { BUILDER_GC_GRACE: '0s' };

describe('builder prune / system df (real store)', function () {
  this.timeout(180_000);
  let root = '';
  let scratch = '';

  const cli = async (args: string[], env: Record<string, string> = {}): Promise<CliResult> =>
    expectSuccess(await runCli(args, { root, env }), `builder ${args.join(' ')}`);
  /** Builds `dockerfile` (untagged when `tag` is empty); returns the image id. */
  const build = async (name: string, dockerfile: string, tag: string, env: Record<string, string> = {}): Promise<CliResult> => {
    const dir = path.join(scratch, name);
    await mkdir(dir, { recursive: true });
    await writeFile(path.join(dir, 'Dockerfile'), dockerfile);
    return cli(['build', '--progress=plain', ...(tag ? ['-t', tag] : []), dir], env);
  };
  const df = async (): Promise<DiskUsage> => JSON.parse((await cli(['system', 'df', '--format', 'json'], NO_GRACE)).stdout) as DiskUsage;
  const blobExists = (digest: string): boolean => existsSync(path.join(root, 'oci', 'blobs', 'sha256', digest.replace('sha256:', '')));
  const snapshotExists = (diffId: string): boolean => existsSync(path.join(root, 'snapshots', diffId.replace('sha256:', '')));
  /** Cache records as { file, createdBy, layer }. */
  const records = async (): Promise<{ file: string; createdBy: string; layer?: { digest: string; diffId: string } }[]> => {
    const dir = path.join(root, 'cache');
    const names = (await readdir(dir)).filter((n) => /^[0-9a-f]{64}\.json$/.test(n));
    return Promise.all(names.map(async (n) => ({ file: path.join(dir, n), ...(JSON.parse(await readFile(path.join(dir, n), 'utf8')) as { createdBy: string }) })));
  };
  const recordFor = async (createdBy: string) => (await records()).find((r) => r.createdBy === createdBy);
  const age = async (file: string, hoursAgo: number): Promise<void> => {
    const when = new Date(Date.now() - hoursAgo * 3_600_000);
    await utimes(file, when, when);
  };
  const allCached = (result: CliResult): boolean => {
    const starts = result.stderr.split('\n').filter((l) => /^#\d+ \[/.test(l) && !l.includes('FROM'));
    return starts.length > 0 && starts.every((l) => result.stderr.includes(`${l.split(' ')[0]} CACHED`));
  };

  beforeEach(async function () {
    scratch = await makeTempDir('gc-scratch');
    root = await makeFixtureRoot('gc-root', scratch);
  });

  afterEach(async function () {
    await removeTempDir(root);
    await removeTempDir(scratch);
  });

  const A = 'FROM busybox\nRUN echo shared > /shared\nRUN echo a > /a\n';
  const B = 'FROM busybox\nRUN echo shared > /shared\nRUN echo b > /b\nCMD ["cat", "/b", "/shared"]\n';

  it('after rmi, prune removes that image\'s unused records, blobs and snapshots; the other still runs and rebuilds CACHED', async function () {
    await build('a', A, 'a');
    await build('b', B, 'b');
    const recordA = (await recordFor('RUN echo a > /a'))!;
    assert.ok(recordA.layer && blobExists(recordA.layer.digest) && snapshotExists(recordA.layer.diffId));
    // Every record was last used two days ago, then b is rebuilt: its hits make its records recent again.
    for (const record of await records()) await age(record.file, 48);
    assert.ok(allCached(await build('b', B, 'b')));
    await cli(['rmi', 'a']);
    const pruned = await cli(['prune', '-f'], NO_GRACE);
    assert.match(pruned.stdout, /RUN echo a > \/a/);
    assert.doesNotMatch(pruned.stdout, /RUN echo b|RUN echo shared/);
    assert.match(pruned.stdout, /Total reclaimed space: \d/);
    assert.ok(!existsSync(recordA.file), 'a\'s record is gone');
    assert.ok(!blobExists(recordA.layer.digest), 'a\'s layer blob is gone');
    assert.ok(!snapshotExists(recordA.layer.diffId), 'a\'s snapshot is gone');
    const shared = (await recordFor('RUN echo shared > /shared'))!;
    assert.ok(shared.layer && blobExists(shared.layer.digest) && snapshotExists(shared.layer.diffId));
    assert.equal((await cli(['run', '--rm', 'b'])).stdout, 'b\nshared\n');
    assert.ok(allCached(await build('b', B, 'b')), 'b rebuilds fully from the cache');
    assert.deepEqual(await readdir(path.join(root, 'tmp')), [], 'the trash was emptied');
  });

  it('--all removes every record but keeps tagged images intact and runnable', async function () {
    await build('b', B, 'b');
    await build('a', A, '');
    await cli(['prune', '-f', '--all'], NO_GRACE);
    assert.equal((await records()).length, 0);
    assert.equal((await cli(['run', '--rm', 'b'])).stdout, 'b\nshared\n');
    const inspected = await runCommand('skopeo', ['inspect', `oci:${path.join(root, 'oci')}:b`]);
    assert.equal(inspected.code, 0, inspected.stderr);
    const usage = await df();
    assert.equal(usage.blobs.reclaimable, 0);
    assert.equal(usage.snapshots.total, 3, 'busybox, shared and b snapshots remain');
    // A second prune has nothing left to do.
    assert.match((await cli(['prune', '-f', '--all'], NO_GRACE)).stdout, /Total reclaimed space: 0B/);
  });

  it('--keep-storage evicts the least recently used records first and stops when under the size', async function () {
    await build('x', 'FROM busybox\nRUN head -c 300000 /dev/urandom > /x\n', '');
    await build('y', 'FROM busybox\nRUN head -c 300000 /dev/urandom > /y\n', '');
    const x = (await recordFor('RUN head -c 300000 /dev/urandom > /x'))!;
    const y = (await recordFor('RUN head -c 300000 /dev/urandom > /y'))!;
    await age(x.file, 3);
    await age(y.file, 2);
    const before = await df();
    // Dropping x frees ~600 kB (blob + snapshot): a limit 200 kB under the current size needs x gone, not y.
    await cli(['prune', '-f', '--keep-storage', String(before.managedSize - 200_000)], NO_GRACE);
    assert.ok(!existsSync(x.file) && !blobExists(x.layer!.digest) && !snapshotExists(x.layer!.diffId), 'x (older) was evicted');
    assert.ok(existsSync(y.file) && blobExists(y.layer!.digest) && snapshotExists(y.layer!.diffId), 'y (newer) stays');
    assert.ok((await df()).managedSize <= before.managedSize - 200_000);
  });

  it('system df matches du and file counts', async function () {
    await build('b', B, 'b');
    await build('a', A, '');
    await mkdir(path.join(root, 'tmp', 'blob-999999999-dead'), { recursive: true });
    const usage = await df();
    const du = async (glob: string): Promise<number> => {
      const result = await runCommand('bash', ['-c', `shopt -s nullglob; f=(${glob}); [ \${#f[@]} -eq 0 ] && echo 0 || du -sbc "\${f[@]}" | tail -1 | cut -f1`]);
      return Number(result.stdout.trim());
    };
    const blobDir = path.join(root, 'oci', 'blobs', 'sha256');
    assert.equal(usage.blobs.size, await du(`${blobDir}/*`));
    assert.equal(usage.blobs.total, (await readdir(blobDir)).length);
    assert.equal(usage.snapshots.size, await du(`${root}/snapshots/*`));
    assert.equal(usage.snapshots.total, (await readdir(path.join(root, 'snapshots'))).length);
    const cacheFiles = await runCommand('bash', ['-c', `find ${root}/cache -type f -printf '%s\\n' | awk '{s+=$1} END {print s+0}'`]);
    assert.equal(usage.buildCache.size, Number(cacheFiles.stdout.trim()));
    assert.equal(usage.buildCache.total, (await records()).length);
    assert.equal(usage.images.total, 2);
    assert.equal(usage.temp.total, 1);
    assert.equal(usage.temp.reclaimable, await du(`${root}/tmp/*`), 'a dead process\'s temp dir is reclaimable');
    assert.equal(usage.managedSize, usage.blobs.size + usage.snapshots.size + usage.buildCache.size);
    const table = (await cli(['system', 'df'])).stdout;
    assert.match(table, /^TYPE\s+TOTAL\s+ACTIVE\s+SIZE\s+RECLAIMABLE/);
    assert.match(table, /^Build Cache\s+\d+/m);
    await cli(['prune', '-f'], NO_GRACE);
    assert.deepEqual(await readdir(path.join(root, 'tmp')), [], 'prune removed the dead process\'s temp dir');
  });

  it('the automatic GC keeps the store under BUILDER_GC_KEEP_STORAGE, and a no-op rebuild does not measure', async function () {
    // The first build extracts busybox into a snapshot: measure the base after that.
    await build('warm', 'FROM busybox\nRUN echo w > /w\n', 'warm');
    const base = (await df()).managedSize;
    const limit = base + 400_000;
    const env = { ...NO_GRACE, BUILDER_GC_KEEP_STORAGE: String(limit) };
    for (const n of [1, 2, 3]) {
      await build(`auto${n}`, `FROM busybox\nRUN head -c 150000 /dev/urandom > /f${n}\n`, '', env);
      const usage = await df();
      assert.ok(usage.managedSize <= limit, `after build ${n}: ${usage.managedSize} > ${limit}`);
    }
    // The first build's record was evicted before the last one's.
    assert.equal(await recordFor('RUN head -c 150000 /dev/urandom > /f1'), undefined);
    assert.ok(await recordFor('RUN head -c 150000 /dev/urandom > /f3'));
    const state = path.join(root, 'gc', 'state.json');
    const tagged = await build('tagged', 'FROM busybox\nRUN echo t > /t\n', 'tagged', env);
    assert.match(tagged.stdout, /sha256:/);
    const measured = await readFile(state, 'utf8');
    const again = await build('tagged', 'FROM busybox\nRUN echo t > /t\n', 'tagged', env);
    assert.ok(allCached(again));
    assert.equal(await readFile(state, 'utf8'), measured, 'nothing changed, so nothing was measured');
  });

  it('a prune killed at any moment leaves tagged images usable, and the next prune finishes the job', async function () {
    await build('b', B, 'b');
    for (const n of [1, 2, 3]) await build(`u${n}`, `FROM busybox\nRUN echo ${n} > /u${n}\n`, '');
    for (const delayMs of [60, 150, 250, 400]) {
      const child = spawn(process.execPath, [cliMain, 'prune', '-f', '--all'], {
        env: { ...process.env, BUILDER_ROOT: root, ...NO_GRACE }, stdio: 'ignore',
      });
      const exited = new Promise((resolve) => child.on('close', resolve));
      setTimeout(() => child.kill('SIGKILL'), delayMs);
      await exited;
      assert.equal((await cli(['run', '--rm', 'b'])).stdout, 'b\nshared\n', `after a kill at ${delayMs} ms`);
    }
    await cli(['prune', '-f', '--all'], NO_GRACE);
    assert.equal((await records()).length, 0);
    const usage = await df();
    assert.equal(usage.blobs.reclaimable + usage.snapshots.reclaimable, 0);
    assert.equal(usage.temp.total, 0, 'trash left by killed prunes is gone');
    const inspected = await runCommand('skopeo', ['inspect', `oci:${path.join(root, 'oci')}:b`]);
    assert.equal(inspected.code, 0, inspected.stderr);
  });

  it('a prune while a build runs removes only records and does not break the build', async function () {
    // An untagged image whose only holder is its cache record, which the next build hits.
    await build('pre', 'FROM busybox\nRUN echo pre > /pre\n', '');
    const pre = (await recordFor('RUN echo pre > /pre'))!;
    const dir = path.join(scratch, 'slow');
    await mkdir(dir, { recursive: true });
    await writeFile(path.join(dir, 'Dockerfile'), 'FROM busybox\nRUN echo pre > /pre\nRUN sleep 2 && echo slow > /slow\nCMD ["cat", "/pre", "/slow"]\n');
    const child = spawn(process.execPath, [cliMain, 'build', '--progress=plain', '-t', 'slow', dir], {
      env: { ...process.env, BUILDER_ROOT: root }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<number>((resolve) => child.on('close', (code) => resolve(code ?? 1)));
    // Wait until the build is inside the slow step, then prune everything.
    for (let i = 0; i < 200 && !/RUN sleep 2/.test(stderr); i++) await new Promise((r) => setTimeout(r, 25));
    const pruned = await cli(['prune', '-f', '--all'], NO_GRACE);
    assert.match(pruned.stderr, /a build is running/);
    assert.ok(!existsSync(pre.file), 'records go even while a build runs');
    assert.ok(blobExists(pre.layer!.digest), 'the blob the build is using stays');
    assert.equal(await exited, 0, stderr);
    assert.equal((await cli(['run', '--rm', 'slow'])).stdout, 'pre\nslow\n');
    // Once the build is done, its image holds the layer: pruning again keeps it.
    await cli(['prune', '-f', '--all'], NO_GRACE);
    assert.ok(blobExists(pre.layer!.digest));
    assert.equal((await cli(['run', '--rm', 'slow'])).stdout, 'pre\nslow\n');
  });
});
