/** The perl mount helpers' pool: quick requests queue on a busy helper, a slow one (a monitor launch) never holds them up. */
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { launchWithSyncPipe, mountSyscall, umountSyscall } from './mount-syscall.js';

/** The live helpers (mount-syscall.ts keeps them under this symbol, shared by the CLI's two bundles). */
function liveHelpers(): number {
  const pool = (globalThis as Record<symbol, unknown>)[Symbol.for('builder.mount-helpers')] as { dead: boolean }[] | undefined;
  return (pool ?? []).filter((helper) => !helper.dead).length;
}

describe('snapshot/mount-syscall pool', function () {
  this.timeout(20000);
  let dir = '';
  before(function () {
    if (process.getuid?.() !== 0 || spawnSync('perl', ['-e', '1']).status !== 0) {
      console.log('    skipped: needs root and perl');
      this.skip();
    }
  });
  beforeEach(async () => { dir = await mkdtemp(join(tmpdir(), 'mount-pool-')); });
  afterEach(async () => {
    spawnSync('umount', ['-R', '-l', dir]);
    await rm(dir, { recursive: true, force: true });
  });

  it('six mounts asked for at once fork no new helper (they queue on one that answers in microseconds)', async () => {
    for (let index = 0; index < 6; index++) await mkdir(join(dir, `m${index}`));
    // One helper up and idle first (an earlier test may have left more: they stay, none is added).
    assert.equal((await mountSyscall(dir, 'tmpfs', 'm0', 'tmpfs', 'size=1m'))?.errno, 0);
    assert.equal((await umountSyscall(join(dir, 'm0')))?.errno, 0);
    const before = liveHelpers();
    assert.ok(before >= 1);
    const results = await Promise.all([0, 1, 2, 3, 4, 5].map((index) => mountSyscall(dir, 'tmpfs', `m${index}`, 'tmpfs', 'size=1m')));
    assert.deepEqual(results.map((result) => result?.errno), [0, 0, 0, 0, 0, 0]);
    assert.equal(liveHelpers(), before, 'no helper was added for quick requests');
    for (let index = 0; index < 6; index++) assert.equal((await umountSyscall(join(dir, `m${index}`)))?.errno, 0);
  });

  it('a mount asked for while a helper waits on a monitor launch goes to another helper', async () => {
    await mkdir(join(dir, 'm'));
    // The launched program holds its sync pipe (fd 3) until the test writes `go`: its helper is busy all that time,
    // so a mount queued behind it could never finish first.
    const go = join(dir, 'go');
    // The loop gives up after ~20 s, so a failed or killed run leaves nothing polling behind it.
    const launch = launchWithSyncPipe('/bin/sh', ['-c', `n=0; while [ ! -e '${go}' ] && [ $n -lt 400 ]; do sleep 0.05; n=$((n+1)); done`], {}, join(dir, 'err'));
    let first: unknown;
    try {
      const mount = mountSyscall(dir, 'tmpfs', 'm', 'tmpfs', 'size=1m');
      first = await Promise.race([mount, new Promise((resolve) => setTimeout(() => resolve('stuck behind the launch'), 8000))]);
    } finally {
      await writeFile(go, '');
    }
    assert.deepEqual(first, { errno: 0, message: '' });
    assert.equal((await launch)?.errno, 0);
    assert.equal((await umountSyscall(join(dir, 'm')))?.errno, 0);
  });
});
