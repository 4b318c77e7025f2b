import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { chmod, chown, lchown, link, mkdir, mkdtemp, readFile, rm, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLayer, isEmptyDir } from './create.js';
import { listLayer } from './tree-listing.js';

describe('layer/create', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'layer-create-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function sampleTree(root: string): Promise<void> {
    await mkdir(join(root, 'etc/deep'), { recursive: true });
    await writeFile(join(root, 'etc/hosts'), 'hosts\n');
    await writeFile(join(root, 'etc/deep/b'), 'b');
    await writeFile(join(root, 'suid'), '#!/bin/sh\n');
    await chmod(join(root, 'suid'), 0o4755);
    await mkdir(join(root, 'tmp'));
    await chmod(join(root, 'tmp'), 0o1777);
    await writeFile(join(root, 'owned'), 'x');
    await chown(join(root, 'owned'), 1234, 3000000);
    await link(join(root, 'etc/hosts'), join(root, 'hosts-link'));
    await symlink('etc/hosts', join(root, 'sym'));
    await lchown(join(root, 'sym'), 7, 8);
    execFileSync('setfattr', ['-n', 'user.note', '-v', '0x00ff10', join(root, 'etc/deep/b')]);
    execFileSync('setcap', ['cap_net_raw+ep', join(root, 'suid')]);
    execFileSync('setfattr', ['-n', 'trusted.overlay.impure', '-v', 'y', join(root, 'etc')]);
    const longName = 'n'.repeat(120) + '/' + 'm'.repeat(120);
    await mkdir(join(root, longName), { recursive: true });
    await writeFile(join(root, longName, 'file'), 'deep');
    await writeFile(join(root, 'big'), Buffer.alloc(3 * 1024 * 1024 + 5, 'ab'));
  }

  it('writes sorted entries with owners, modes, hardlinks, symlinks, xattrs and long names', async () => {
    const src = join(dir, 'src');
    await mkdir(src);
    await sampleTree(src);
    const layer = await createLayer(src, join(dir, 'layer.tgz'));
    assert.equal(layer.mediaType, 'application/vnd.oci.image.layer.v1.tar+gzip');
    const { entries, diffId } = await listLayer(join(dir, 'layer.tgz'));
    assert.equal(diffId, layer.diffId);
    const byName = new Map(entries.map((entry) => [entry.name, entry]));
    const names = entries.map((entry) => entry.name);
    assert.equal(names[0], 'big');
    assert.ok(names.indexOf('etc/') < names.indexOf('etc/deep/'), 'parents come first');
    assert.equal(byName.get('suid')!.mode, 0o4755);
    assert.ok(byName.get('suid')!.xattrs.has('security.capability'));
    assert.equal(byName.get('tmp/')!.mode, 0o1777);
    assert.equal(byName.get('tmp/')!.type, 'directory');
    assert.deepEqual([byName.get('owned')!.uid, byName.get('owned')!.gid], [1234, 3000000]);
    const hosts = entries.filter((entry) => entry.name === 'etc/hosts' || entry.name === 'hosts-link');
    assert.deepEqual(hosts.map((entry) => entry.type), ['file', 'link']);
    assert.equal(byName.get('hosts-link')!.linkname, 'etc/hosts');
    assert.equal(byName.get('sym')!.type, 'symlink');
    assert.equal(byName.get('sym')!.linkname, 'etc/hosts');
    assert.deepEqual([byName.get('sym')!.uid, byName.get('sym')!.gid], [7, 8]);
    assert.deepEqual(byName.get('etc/deep/b')!.xattrs.get('user.note'), Buffer.from([0, 0xff, 0x10]));
    assert.equal(byName.get('etc/')!.xattrs.size, 0, 'trusted.overlay.* is dropped');
    assert.equal(byName.get('n'.repeat(120) + '/' + 'm'.repeat(120) + '/file')!.content, 'deep');
    assert.equal(byName.get('big')!.size, 3 * 1024 * 1024 + 5);

    // GNU tar agrees, and what it unpacks matches the source.
    const listing = execFileSync('tar', ['--numeric-owner', '-tvzf', join(dir, 'layer.tgz')], { encoding: 'utf8' });
    assert.match(listing, /-rwsr-xr-x 0\/0 .* suid/);
    assert.match(listing, /hosts-link link to etc\/hosts/);
    const out = join(dir, 'gnu');
    await mkdir(out);
    execFileSync('tar', ['--xattrs', '--xattrs-include=*', '-xzf', join(dir, 'layer.tgz'), '-C', out]);
    assert.deepEqual(await readFile(join(out, 'big')), await readFile(join(src, 'big')));
    assert.match(execFileSync('getcap', [join(out, 'suid')], { encoding: 'utf8' }), /cap_net_raw/);
  });

  it('is deterministic and clamps mtimes to sourceDateEpoch', async () => {
    const src = join(dir, 'src');
    await mkdir(src);
    await sampleTree(src);
    const first = await createLayer(src, join(dir, 'a.tgz'));
    const second = await createLayer(src, join(dir, 'b.tgz'));
    assert.deepEqual(first, second);
    const header = (await readFile(join(dir, 'a.tgz'))).subarray(0, 10);
    assert.deepEqual([...header.subarray(4, 8)], [0, 0, 0, 0], 'gzip mtime is 0');

    await utimes(join(src, 'owned'), 500, 500);
    const clamped = await createLayer(src, join(dir, 'c.tgz'), { sourceDateEpoch: 1000 });
    const { entries } = await listLayer(join(dir, 'c.tgz'));
    assert.ok(entries.every((entry) => entry.mtime <= 1000));
    assert.equal(entries.find((entry) => entry.name === 'owned')!.mtime, 500, 'older mtimes are kept');
    assert.notEqual(clamped.diffId, first.diffId);
    const level1 = await createLayer(src, join(dir, 'd.tgz'), { gzipLevel: 1 });
    const level6 = await createLayer(src, join(dir, 'e.tgz'), { gzipLevel: 6 });
    assert.equal(level6.diffId, level1.diffId, 'the gzip level changes the blob, not the tar');
    assert.notEqual(level6.digest, level1.digest);
  });

  it('gives a valid empty layer for an empty directory', async () => {
    const src = join(dir, 'empty');
    await mkdir(src);
    assert.equal(await isEmptyDir(src), true);
    const layer = await createLayer(src, join(dir, 'empty.tgz'));
    const { entries, diffId } = await listLayer(join(dir, 'empty.tgz'));
    assert.equal(entries.length, 0);
    assert.equal(diffId, layer.diffId);
    // The well-known diffId of a 1024-byte all-zero tar.
    assert.equal(layer.diffId, 'sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef');
    execFileSync('tar', ['-tzf', join(dir, 'empty.tgz')]);
  });

  it('takes the gzip level from BUILDER_GZIP_LEVEL and rejects a bad one', async () => {
    const src = join(dir, 'src');
    await mkdir(src);
    await writeFile(join(src, 'text'), 'hello world\n'.repeat(200_000));
    const saved = process.env.BUILDER_GZIP_LEVEL;
    try {
      process.env.BUILDER_GZIP_LEVEL = '0';
      const stored = await createLayer(src, join(dir, 'stored.tgz'));
      delete process.env.BUILDER_GZIP_LEVEL;
      const compressed = await createLayer(src, join(dir, 'compressed.tgz'));
      assert.equal(stored.diffId, compressed.diffId);
      assert.ok(stored.size > 2_400_000 && compressed.size < 100_000, `${stored.size} vs ${compressed.size}`);
      process.env.BUILDER_GZIP_LEVEL = 'fast';
      await assert.rejects(createLayer(src, join(dir, 'bad.tgz')), /BUILDER_GZIP_LEVEL/);
    } finally {
      if (saved === undefined) delete process.env.BUILDER_GZIP_LEVEL;
      else process.env.BUILDER_GZIP_LEVEL = saved;
    }
  });
});
