import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { chmod, link, mkdir, mkdtemp, readFile, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLayer } from '../layer/create.js';
import { extractLayer } from '../layer/extract.js';
import { listLayer, listTree } from '../layer/tree-listing.js';
import { mountReadonly, prepareSnapshot, type MutableSnapshot } from './mount.js';

function mounts(): string {
  return execFileSync('cat', ['/proc/self/mounts'], { encoding: 'utf8' });
}

describe('snapshot/mount', () => {
  let dir: string;
  let snapshot: MutableSnapshot | undefined;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'snapshot-mount-'));
  });
  afterEach(async () => {
    await snapshot?.release();
    snapshot = undefined;
    assert.ok(!mounts().includes(dir), 'no mount left behind');
    await rm(dir, { recursive: true, force: true });
  });

  it('diffs a RUN-like change into OCI whiteouts and replays it to the same view', async () => {
    const lower = join(dir, 'lower');
    await mkdir(join(lower, 'dir2file'), { recursive: true });
    await mkdir(join(lower, 'opaque/old'), { recursive: true });
    await writeFile(join(lower, 'keep.txt'), 'keep');
    await writeFile(join(lower, 'delete.txt'), 'bye');
    await writeFile(join(lower, 'dir2file/inner'), 'inner');
    await writeFile(join(lower, 'opaque/a'), 'a');
    await writeFile(join(lower, 'opaque/old/b'), 'b');

    snapshot = await prepareSnapshot(join(dir, 'work'), [lower]);
    const merged = snapshot.merged;
    await rm(join(merged, 'delete.txt'));
    await rm(join(merged, 'dir2file'), { recursive: true });
    await writeFile(join(merged, 'dir2file'), 'now a file');
    await rm(join(merged, 'opaque'), { recursive: true });
    await mkdir(join(merged, 'opaque'));
    await writeFile(join(merged, 'opaque/new'), 'new');
    await writeFile(join(merged, 'h1'), 'linked');
    await link(join(merged, 'h1'), join(merged, 'h2'));
    await writeFile(join(merged, 'suid'), '#!/bin/sh\n');
    await chmod(join(merged, 'suid'), 0o4755);
    await symlink('keep.txt', join(merged, 'sym'));
    execFileSync('setfattr', ['-n', 'user.note', '-v', 'hello', join(merged, 'keep.txt')]);
    const expected = await listTree(merged);
    await snapshot.unmount();

    const layer = await createLayer(snapshot.upperdir, join(dir, 'layer.tgz'));
    const { entries } = await listLayer(join(dir, 'layer.tgz'));
    const names = entries.map((entry) => `${entry.name} ${entry.type}`);
    for (const want of ['.wh.delete.txt file', 'dir2file file', 'opaque/ directory', 'opaque/.wh..wh..opq file', 'opaque/new file',
      'h1 file', 'h2 link', 'suid file', 'sym symlink', 'keep.txt file']) {
      assert.ok(names.includes(want), `${want} in ${names.join(', ')}`);
    }
    assert.ok(!names.some((name) => name.startsWith('opaque/old') || name.startsWith('opaque/a')));
    assert.equal(entries.find((entry) => entry.name === 'suid')!.mode, 0o4755);
    assert.equal(entries.find((entry) => entry.name === 'keep.txt')!.xattrs.get('user.note')?.toString(), 'hello');

    const replay = join(dir, 'replay');
    await mkdir(replay);
    assert.equal((await extractLayer(join(dir, 'layer.tgz'), replay)).diffId, layer.diffId);
    // Both the replayed layer and the raw upperdir (what adopt keeps) must stack back to the same view.
    for (const top of [replay, snapshot.upperdir]) {
      const view = await mountReadonly(join(dir, 'work'), [lower, top]);
      try {
        assert.deepEqual(await listTree(view.merged), expected);
      } finally {
        await view.release();
      }
      await view.release();
    }
  });

  it('mounts 150 lowerdirs, top one winning, and FROM scratch with none', async () => {
    const lowers: string[] = [];
    for (let index = 0; index < 150; index++) {
      const lower = join(dir, 'snapshots', `${index.toString().padStart(3, '0')}-${'x'.repeat(60)}`);
      await mkdir(lower, { recursive: true });
      await writeFile(join(lower, `f${index}`), String(index));
      await writeFile(join(lower, 'shared'), String(index));
      lowers.push(lower);
    }
    snapshot = await prepareSnapshot(join(dir, 'work'), lowers);
    assert.equal((await readdir(snapshot.merged)).length, 151);
    assert.equal(await readFile(join(snapshot.merged, 'shared'), 'utf8'), '149');
    await writeFile(join(snapshot.merged, 'shared'), 'changed');
    await snapshot.unmount();
    assert.deepEqual(await readdir(snapshot.upperdir), ['shared']);
    await snapshot.release();
    await snapshot.release();

    snapshot = await prepareSnapshot(join(dir, 'work'), []);
    assert.deepEqual(await readdir(snapshot.merged), []);
    await writeFile(join(snapshot.merged, 'a'), 'a');
    const readonly = await mountReadonly(join(dir, 'work'), lowers.slice(0, 1));
    try {
      assert.deepEqual(await readdir(readonly.merged), ['f0', 'shared']);
      await assert.rejects(writeFile(join(readonly.merged, 'x'), 'x'), /EROFS/);
    } finally {
      await readonly.release();
    }
  });

  it('reports a missing lowerdir clearly', async () => {
    await assert.rejects(prepareSnapshot(join(dir, 'work'), [join(dir, 'nope')]), /STORE_CORRUPT|is missing/);
    assert.deepEqual(await readdir(join(dir, 'work')), []);
  });
});
