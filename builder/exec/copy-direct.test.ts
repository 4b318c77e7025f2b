import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { chmod, chown, mkdir, mkdtemp, rm, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import { resolveInRoot } from '../context/root-path.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { copyInto, type CopyOptions, type CopySource } from '../context/copy.js';
import { createMatcher } from '../context/ignore.js';
import { listTree } from '../layer/tree-listing.js';
import { prepareSnapshot } from '../snapshot/mount.js';
import { copyDirect, rememberDirectories, workdirDirect } from './copy-direct.js';
import { startLayer } from '../layer/create.js';

const PAST = new Date('2001-02-03T04:05:06Z');

/**
 * The upperdir a COPY writes without a mount must be the one overlayfs leaves: each case copies both ways over the
 * same layers and compares the trees (mode, owner, content, xattrs; directory mtimes where copy-up keeps them).
 */
describe('exec/copy-direct', function () {
  let dir: string;
  let lowers: string[];
  let source: CopySource;
  before(function () {
    if (process.getuid?.() !== 0) {
      console.log('    (skipped: overlay mounts need root)');
      this.skip();
    }
  });
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'copy-direct-'));
    const base = join(dir, 'l0');
    const top = join(dir, 'l1');
    await mkdir(join(base, 'app'), { recursive: true });
    await mkdir(join(base, 'usr/local/bin'), { recursive: true });
    await mkdir(join(top, 'app/data'), { recursive: true });
    await writeFile(join(top, 'app/data/old.txt'), 'old');
    await symlink('app', join(base, 'lnk'));
    await mkdir(join(base, 'tagged'));
    execFileSync('setfattr', ['-n', 'user.note', '-v', 'kept', join(base, 'tagged')]);
    // The top-most layer's metadata is what copy-up takes: 0750 and 1000:1000 over the base's 0755 root:root.
    await chmod(join(top, 'app'), 0o750);
    await chown(join(top, 'app'), 1000, 1000);
    for (const path of [join(top, 'app'), join(base, 'usr'), join(base, 'usr/local')]) await utimes(path, PAST, PAST);
    lowers = [base, top];
    const context = join(dir, 'context');
    await mkdir(join(context, 'src/sub'), { recursive: true });
    await writeFile(join(context, 'src/a.sh'), 'echo a\n');
    await chmod(join(context, 'src/a.sh'), 0o755);
    await writeFile(join(context, 'src/sub/b.txt'), 'b');
    await writeFile(join(context, 'conf'), 'x=1\n');
    await mkdir(join(context, 'empty'));
    source = { root: context, isContext: true, ignore: createMatcher([]) };
    await mkdir(join(dir, 'tmp'));
  });
  afterEach(async () => rm(dir, { recursive: true, force: true }));

  const options = (sources: string[], dest: string, extra: Partial<CopyOptions> = {}): CopyOptions =>
    ({ sources, dest, add: false, exclude: [], parents: false, inline: [], ...extra });

  /** The upperdir the mounted path leaves (copyInto into the merged view), listed; `mtimeOf` paths' mtimes too. */
  async function viaOverlay(copy: CopyOptions, mtimeOf: string[] = []): Promise<string[]> {
    const snapshot = await prepareSnapshot(join(dir, 'work'), lowers);
    try {
      await copyInto(source, snapshot.merged, copy);
      await snapshot.unmount();
      const mtimes = await Promise.all(mtimeOf.map(async (path) => `${path} ${(await stat(join(snapshot.upperdir, path))).mtimeMs === PAST.getTime() ? 'kept' : 'new'}`));
      return [...(await listTree(snapshot.upperdir)), ...mtimes];
    } finally {
      await snapshot.release();
    }
  }

  for (const [title, copy] of [
    ['a directory into a new dest under a copied-up parent', options(['src'], '/app/src/')],
    ['files into an existing directory, with --chmod', options(['conf', 'src/a.sh'], '/app/', { chmod: 0o640 })],
    ['a file to a new name deep under existing directories', options(['conf'], '/usr/local/etc/conf')],
    ['a directory with --exclude into the image root', options(['src'], '/', { exclude: ['sub'] })],
    // Nothing is written under /app: overlayfs copies nothing up, so the layer must not hold /app either.
    ['an empty directory into an existing one', options(['empty'], '/app/')],
  ] as const) {
    it(`writes what overlayfs leaves: ${title}`, async () => {
      const direct = await copyDirect(join(dir, 'tmp'), lowers, source, copy);
      assert.ok(direct, 'taken without a mount');
      try {
        assert.deepEqual(await listTree(direct.upperdir), await viaOverlay(copy));
      } finally {
        await direct.release();
      }
    });
  }

  it('keeps the mtime of a directory it only passed through (as copy-up does) and not of one it wrote into', async () => {
    const direct = await copyDirect(join(dir, 'tmp'), lowers, source, options(['conf'], '/usr/local/etc/conf'));
    assert.ok(direct);
    try {
      assert.equal((await stat(join(direct.upperdir, 'usr'))).mtimeMs, PAST.getTime());
      assert.ok((await stat(join(direct.upperdir, 'usr/local'))).mtimeMs > PAST.getTime(), 'usr/local got a new entry: a new mtime');
      const overlay = await viaOverlay(options(['conf'], '/usr/local/etc/conf'), ['usr', 'usr/local']);
      assert.deepEqual(overlay.slice(-2), ['usr kept', 'usr/local new'], 'overlayfs does the same');
    } finally {
      await direct.release();
    }
  });

  it('remembers per snapshot directory whether it has xattrs (one getfattr per directory, ever)', async () => {
    const hex = (seed: string): string => seed.repeat(64).slice(0, 64);
    const snapshots = join(dir, 'store', 'snapshots');
    await mkdir(snapshots, { recursive: true });
    execFileSync('cp', ['-a', lowers[0]!, join(snapshots, hex('a'))]);
    execFileSync('cp', ['-a', lowers[1]!, join(snapshots, hex('b'))]);
    lowers = [join(snapshots, hex('a')), join(snapshots, hex('b'))];
    const memo = join(dir, 'store', 'dir-xattrs.json');
    const first = await copyDirect(join(dir, 'tmp'), lowers, source, options(['conf'], '/usr/local/etc/conf'), memo);
    assert.ok(first);
    await first.release();
    assert.equal(await copyDirect(join(dir, 'tmp'), lowers, source, options(['conf'], '/tagged/'), memo), undefined);
    assert.deepEqual(JSON.parse(execFileSync('cat', [memo], { encoding: 'utf8' })), {
      [`${hex('a')}/usr`]: false, [`${hex('a')}/usr/local`]: false, [`${hex('a')}/tagged`]: true,
    });
    // The memo answers now: with getfattr off the PATH (and the mount helper, which could read xattrs, off) both
    // outcomes stay the same.
    const path = process.env.PATH;
    process.env.PATH = '/nonexistent';
    process.env.BUILDER_MOUNT_HELPER = 'off';
    try {
      const again = await copyDirect(join(dir, 'tmp'), lowers, source, options(['conf'], '/usr/local/etc/conf'), memo);
      assert.ok(again);
      await again.release();
      assert.equal(await copyDirect(join(dir, 'tmp'), lowers, source, options(['conf'], '/tagged/'), memo), undefined);
    } finally {
      process.env.PATH = path;
      delete process.env.BUILDER_MOUNT_HELPER;
    }
  });

  for (const [title, copy] of [
    ['a file that a layer already has', options(['conf'], '/app/data/old.txt')],
    ['a directory merged into one a layer has', options(['src'], '/app/data/')],
    ['a dest reached through a symlink', options(['conf'], '/lnk/')],
    ['a directory with xattrs on the way (copy-up would keep them)', options(['conf'], '/tagged/conf')],
  ] as const) {
    it(`leaves ${title} to the mounted path, and nothing behind`, async () => {
      if (title.includes('merged')) await writeFile(join(source.root, 'src/old.txt'), 'new');
      assert.equal(await copyDirect(join(dir, 'tmp'), lowers, source, copy), undefined);
      assert.deepEqual(execFileSync('ls', ['-A', join(dir, 'tmp')], { encoding: 'utf8' }), '');
    });
  }
  /** The upperdir WORKDIR's mkdir through the mount leaves (exec/workdir.ts), listed, with `mtimeOf` mtimes. */
  async function workdirViaOverlay(target: string, mtimeOf: string[] = []): Promise<string[]> {
    const snapshot = await prepareSnapshot(join(dir, 'work'), lowers);
    try {
      const onDisk = await resolveInRoot(snapshot.merged, target);
      const exists = await stat(onDisk).then((s) => s.isDirectory(), () => false);
      if (!exists) await mkdir(onDisk, { recursive: true, mode: 0o755 });
      await snapshot.unmount();
      const mtimes = await Promise.all(mtimeOf.map(async (path) => `${path} ${(await stat(join(snapshot.upperdir, path))).mtimeMs === PAST.getTime() ? 'kept' : 'new'}`));
      return [...(await listTree(snapshot.upperdir)), ...mtimes];
    } finally {
      await snapshot.release();
    }
  }

  for (const [title, target, mtimeOf] of [
    ['a new directory in the root', '/srv', []],
    ['new directories under copied-up parents (mtimes as copy-up leaves them)', '/usr/local/share/new', ['usr', 'usr/local']],
    ['a directory under one a higher layer re-owned', '/app/logs', ['app']],
    ['a directory every layer has (nothing written)', '/app/data', []],
    ['the root', '/', []],
  ] as const) {
    it(`WORKDIR without a mount writes what overlayfs leaves: ${title}`, async () => {
      const direct = await workdirDirect(join(dir, 'tmp'), lowers, target);
      assert.ok(direct, 'taken without a mount');
      try {
        const mtimes = await Promise.all(mtimeOf.map(async (path) => `${path} ${(await stat(join(direct.upperdir, path))).mtimeMs === PAST.getTime() ? 'kept' : 'new'}`));
        assert.deepEqual([...(await listTree(direct.upperdir)), ...mtimes], await workdirViaOverlay(target, [...mtimeOf]));
      } finally {
        await direct.release();
      }
    });
  }

  for (const [title, target] of [
    ['through a symlink', '/lnk/sub'],
    ['under a directory with xattrs', '/tagged/sub'],
    ['under a file', '/app/data/old.txt/sub'],
  ] as const) {
    it(`WORKDIR ${title} is left to the mounted path, and nothing behind`, async () => {
      assert.equal(await workdirDirect(join(dir, 'tmp'), lowers, target), undefined);
      assert.deepEqual(execFileSync('ls', ['-A', join(dir, 'tmp')], { encoding: 'utf8' }), '');
    });
  }
  it('learns from a layer just written whether its directories have xattrs (no getfattr for the next COPY into them)', async () => {
    const hex = 'c'.repeat(64);
    const snapshot = join(dir, 'store', 'snapshots', hex);
    await mkdir(join(snapshot, 'app/sub'), { recursive: true });
    await mkdir(join(snapshot, 'marked'));
    execFileSync('setfattr', ['-n', 'user.note', '-v', 'kept', join(snapshot, 'marked')]);
    const started = await startLayer(snapshot, join(dir, 'layer.tgz'));
    await started.layer;
    assert.deepEqual([...started.directories!.rels].sort(), ['app', 'app/sub', 'marked']);
    const memo = join(dir, 'store', 'dir-xattrs.json');
    rememberDirectories(memo, snapshot, started.directories!);
    assert.deepEqual(JSON.parse(execFileSync('cat', [memo], { encoding: 'utf8' })), {
      [`${hex}/app`]: false, [`${hex}/app/sub`]: false, [`${hex}/marked`]: true,
    });
    // With no way to read xattrs (getfattr off the PATH, the mount helper off), the memo alone decides.
    const path = process.env.PATH;
    process.env.PATH = '/nonexistent';
    process.env.BUILDER_MOUNT_HELPER = 'off';
    try {
      const into = await copyDirect(join(dir, 'tmp'), [snapshot], source, options(['conf'], '/app/sub/'), memo);
      assert.ok(into, 'a clean directory: taken without a mount');
      await into.release();
      assert.equal(await copyDirect(join(dir, 'tmp'), [snapshot], source, options(['conf'], '/marked/'), memo), undefined);
    } finally {
      process.env.PATH = path;
      delete process.env.BUILDER_MOUNT_HELPER;
    }
  });
});
