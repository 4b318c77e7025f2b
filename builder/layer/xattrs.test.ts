/** readXattrTree: the mount helper's syscall reader gives exactly what getfattr -R gives, odd names and values included. */
import { strict as assert } from 'node:assert';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { readXattrsOf, readXattrTree, type XattrTree } from './xattrs.js';

/** The tree as sorted plain data, so two readers can be compared with deepEqual. */
function plain(tree: XattrTree): [string, [string, string][]][] {
  return [...tree.entries()]
    .map(([path, attrs]): [string, [string, string][]] => [path, [...attrs.entries()].map(([name, value]): [string, string] => [name, value.toString('hex')]).sort()])
    .sort((a, b) => (a[0] < b[0] ? -1 : 1));
}

describe('layer/xattrs readXattrTree', function () {
  let dir = '';
  before(function () {
    if (process.getuid?.() !== 0 || spawnSync('setfattr', ['--version']).status !== 0 || spawnSync('perl', ['-e', '1']).status !== 0) {
      console.log('    skipped: needs root (trusted.* xattrs), setfattr and perl');
      this.skip();
    }
  });
  beforeEach(async () => {
    // Not /tmp: it may be tmpfs, which has no user.* xattrs on older kernels; the cwd's filesystem is the repo's.
    dir = await mkdtemp(join(process.cwd(), '.xattrs-test-'));
  });
  afterEach(async () => rm(dir, { recursive: true, force: true }));

  it('reads the same tree through the helper as through getfattr', async () => {
    const set = (path: string, name: string, value: string, symlinkItself = false): void => {
      execFileSync('setfattr', [...(symlinkItself ? ['-h'] : []), '-n', name, '-v', value, path]);
    };
    await mkdir(join(dir, 'opaque dir', 'sub'), { recursive: true });
    await writeFile(join(dir, 'plain'), 'x');
    await writeFile(join(dir, 'tagged'), 'x');
    await writeFile(join(dir, 'opaque dir', 'sub', 'deep'), 'x');
    const odd = 'new\nline back\\slash tab\there é';
    await writeFile(join(dir, odd), 'x');
    await symlink('tagged', join(dir, 'link'));
    set(dir, 'user.at-root', 'root');
    set(join(dir, 'tagged'), 'user.text', 'hello');
    set(join(dir, 'tagged'), 'user.binary', '0x00ff0a5c22');
    set(join(dir, 'tagged'), 'user.empty', '');
    set(join(dir, 'opaque dir'), 'trusted.overlay.opaque', 'y');
    set(join(dir, 'opaque dir', 'sub', 'deep'), 'user.deep', '0x' + 'ab'.repeat(3000));
    set(join(dir, odd), 'user.odd', 'odd');
    set(join(dir, 'link'), 'trusted.on-the-link', 'l', true);

    const viaHelper = await readXattrTree(dir, { via: 'helper' });
    const viaGetfattr = await readXattrTree(dir, { via: 'getfattr' });
    assert.deepEqual(plain(viaHelper), plain(viaGetfattr));
    // And what it holds is right, not just the same.
    assert.equal(viaHelper.get('')?.get('user.at-root')?.toString(), 'root');
    assert.equal(viaHelper.get('tagged')?.get('user.binary')?.toString('hex'), '00ff0a5c22');
    assert.equal(viaHelper.get('tagged')?.get('user.empty')?.length, 0);
    assert.equal(viaHelper.get('opaque dir')?.get('trusted.overlay.opaque')?.toString(), 'y');
    assert.equal(viaHelper.get('opaque dir/sub/deep')?.get('user.deep')?.length, 3000);
    assert.equal(viaHelper.get(odd)?.get('user.odd')?.toString(), 'odd');
    assert.equal(viaHelper.get('link')?.get('trusted.on-the-link')?.toString(), 'l', 'the symlink itself, not its target');
    assert.ok(!viaHelper.has('plain'), 'files without xattrs are not listed');
    assert.deepEqual(plain(await readXattrTree(dir)), plain(viaHelper), 'the default reader is the helper here');

    // Named paths (a direct COPY's check): the same both ways, a missing one an error both ways.
    const named = [dir, join(dir, 'tagged'), join(dir, 'plain'), join(dir, 'link'), join(dir, odd), join(dir, 'opaque dir')];
    assert.deepEqual(plain(await readXattrsOf(named, { via: 'helper' })), plain(await readXattrsOf(named, { via: 'getfattr' })));
    assert.equal((await readXattrsOf(named)).get(join(dir, 'opaque dir'))?.get('trusted.overlay.opaque')?.toString(), 'y');
    await assert.rejects(readXattrsOf([join(dir, 'missing')], { via: 'helper' }));
    await assert.rejects(readXattrsOf([join(dir, 'missing')]), /getfattr failed/);
  });

  it('a reply of a megabyte (many values, many chunks) comes back whole', async () => {
    // ext4 keeps an inode's xattrs in one block: 3000 bytes a file, 150 files.
    for (let index = 0; index < 150; index++) {
      await writeFile(join(dir, `big${index}`), '');
      execFileSync('setfattr', ['-n', 'trusted.big', '-v', '0x' + index.toString(16).padStart(2, '0').repeat(3000), join(dir, `big${index}`)]);
    }
    const viaHelper = await readXattrTree(dir, { via: 'helper' });
    assert.equal(viaHelper.size, 150);
    assert.deepEqual(plain(viaHelper), plain(await readXattrTree(dir, { via: 'getfattr' })));
    assert.equal(viaHelper.get('big7')?.get('trusted.big')?.toString('hex'), '07'.repeat(3000));
  });

  it('a tree bigger than the helper takes goes to getfattr, with the same answer', async () => {
    await Promise.all(Array.from({ length: 300 }, (_, index) => writeFile(join(dir, `f${index}`), '')));
    execFileSync('setfattr', ['-n', 'user.last', '-v', 'z', join(dir, 'f299')]);
    await assert.rejects(readXattrTree(dir, { via: 'helper' }), /xattrs/);
    assert.deepEqual(plain(await readXattrTree(dir)), [['f299', [['user.last', Buffer.from('z').toString('hex')]]]]);
  });
});
