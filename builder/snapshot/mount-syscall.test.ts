/** The perl mount helper: real mount(2)/umount2(2), errno replies, odd paths, concurrency, no hold on the process. */
import { strict as assert } from 'node:assert';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { prepareSnapshot } from './mount.js';
import { MNT_DETACH, mountSyscall, umountSyscall } from './mount-syscall.js';

const mounted = async (path: string): Promise<boolean> =>
  (await readFile('/proc/self/mountinfo', 'utf8')).split('\n').some((line) => line.split(' ')[4] === path.replace(/ /g, '\\040'));

describe('snapshot/mount-syscall', function () {
  let dir = '';
  before(function () {
    if (process.getuid?.() !== 0) {
      console.log('    skipped: mount(2) needs root');
      this.skip();
    }
    if (spawnSync('perl', ['-e', '1']).status !== 0) {
      console.log('    skipped: no perl (the helper falls back to mount(8))');
      this.skip();
    }
  });
  beforeEach(async () => { dir = await mkdtemp(join(tmpdir(), 'mount syscall \'odd\' ')); });
  afterEach(async () => {
    spawnSync('umount', ['-R', '-l', dir]);
    await rm(dir, { recursive: true, force: true });
  });

  it('mounts an overlay with relative lowerdir/upperdir resolved in cwd, and unmounts it', async () => {
    for (const name of ['lower', 'upper', 'work', 'merged']) await mkdir(join(dir, name));
    await writeFile(join(dir, 'lower', 'from-lower'), 'low');
    const result = await mountSyscall(dir, 'overlay', 'merged', 'overlay', 'lowerdir=lower,upperdir=upper,workdir=work');
    assert.deepEqual(result, { errno: 0, message: '' });
    assert.ok(await mounted(join(dir, 'merged')), 'the overlay is in mountinfo');
    assert.equal(await readFile(join(dir, 'merged', 'from-lower'), 'utf8'), 'low');
    await writeFile(join(dir, 'merged', 'written'), 'up');
    assert.equal(await readFile(join(dir, 'upper', 'written'), 'utf8'), 'up', 'writes land in the upperdir');
    assert.deepEqual(await umountSyscall(join(dir, 'merged')), { errno: 0, message: '' });
    assert.ok(!(await mounted(join(dir, 'merged'))), 'gone after umount2');
  });

  it('replies with the errno: not a mount point, unknown fs type, missing cwd, busy then detached', async () => {
    await mkdir(join(dir, 'plain'));
    assert.equal((await umountSyscall(join(dir, 'plain')))?.errno, 22, 'EINVAL: not mounted');
    assert.equal((await umountSyscall(join(dir, 'missing')))?.errno, 2, 'ENOENT');
    const badType = await mountSyscall(dir, 'none', 'plain', 'no-such-filesystem', '');
    assert.equal(badType?.errno, 19, 'ENODEV');
    assert.match(badType?.message ?? '', /device/i);
    assert.equal((await mountSyscall(join(dir, 'missing'), 'tmpfs', 'plain', 'tmpfs', ''))?.errno, 2, 'a missing cwd is ENOENT');
    assert.equal((await mountSyscall(dir, 'tmpfs', 'plain', 'tmpfs', 'size=1m'))?.errno, 0);
    const holder = spawn('sleep', ['30'], { cwd: join(dir, 'plain'), stdio: 'ignore' });
    await new Promise((resolve) => holder.once('spawn', resolve));
    try {
      assert.equal((await umountSyscall(join(dir, 'plain')))?.errno, 16, 'EBUSY while a process has its cwd there');
      assert.equal((await umountSyscall(join(dir, 'plain'), MNT_DETACH))?.errno, 0, 'MNT_DETACH still detaches it');
      assert.ok(!(await mounted(join(dir, 'plain'))));
    } finally {
      holder.kill();
    }
  });

  it('keeps replies with their requests when many run at once', async () => {
    const names = Array.from({ length: 12 }, (_, index) => `m ${index}`);
    await Promise.all(names.map((name) => mkdir(join(dir, name))));
    const results = await Promise.all(names.map((name, index) =>
      index % 3 === 2 ? mountSyscall(dir, 'none', name, 'no-such-filesystem', '') : mountSyscall(dir, 'tmpfs', name, 'tmpfs', `size=${index + 1}m`)));
    results.forEach((result, index) => assert.equal(result?.errno, index % 3 === 2 ? 19 : 0, names[index]));
    for (const [index, name] of names.entries()) {
      assert.equal(await mounted(join(dir, name)), index % 3 !== 2, name);
      if (index % 3 !== 2) assert.equal((await umountSyscall(join(dir, name)))?.errno, 0);
    }
  });

  it('leaves no cwd on the filesystem it mounted in (that filesystem can still be unmounted)', async () => {
    await mkdir(join(dir, 'fs'));
    assert.equal((await mountSyscall(dir, 'tmpfs', 'fs', 'tmpfs', ''))?.errno, 0);
    await mkdir(join(dir, 'fs', 'inner'));
    assert.equal((await mountSyscall(join(dir, 'fs'), 'tmpfs', 'inner', 'tmpfs', ''))?.errno, 0);
    assert.equal((await umountSyscall(join(dir, 'fs', 'inner')))?.errno, 0);
    assert.equal((await umountSyscall(join(dir, 'fs')))?.errno, 0, 'not EBUSY: the helper went back to /');
  });

  it('BUILDER_MOUNT_HELPER=off: no helper answers, and overlays still mount and unmount through mount(8)/umount(8)', async () => {
    process.env.BUILDER_MOUNT_HELPER = 'off';
    try {
      await mkdir(join(dir, 'plain'));
      assert.equal(await mountSyscall(dir, 'tmpfs', 'plain', 'tmpfs', ''), undefined);
      assert.equal(await umountSyscall(join(dir, 'plain')), undefined);
      const lower = join(dir, 'lower');
      await mkdir(lower);
      await writeFile(join(lower, 'f'), 'low');
      const snapshot = await prepareSnapshot(join(dir, 'work'), [lower]);
      assert.ok(await mounted(snapshot.merged));
      assert.equal(await readFile(join(snapshot.merged, 'f'), 'utf8'), 'low');
      await snapshot.release();
      assert.ok(!(await mounted(snapshot.merged)));
    } finally {
      delete process.env.BUILDER_MOUNT_HELPER;
    }
  });

  it('never keeps a process alive', async () => {
    await mkdir(join(dir, 'merged'));
    const module = fileURLToPath(new URL('./mount-syscall.js', import.meta.url));
    const script = `import(${JSON.stringify(module)}).then(async (m) => { const r = await m.mountSyscall(process.argv[1], 'tmpfs', 'merged', 'tmpfs', ''); console.log(r.errno); })`;
    const started = Date.now();
    const output = execFileSync(process.execPath, ['-e', script, dir], { encoding: 'utf8', timeout: 10_000 });
    assert.equal(output.trim(), '0');
    assert.ok(Date.now() - started < 8000, 'node exited by itself');
    assert.ok(await mounted(join(dir, 'merged')));
    assert.equal((await umountSyscall(join(dir, 'merged')))?.errno, 0);
  });
});
