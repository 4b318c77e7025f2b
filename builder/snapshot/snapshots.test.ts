import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BuildError } from '../errors.js';
import type { Layer } from '../image/types.js';
import { createLayer } from '../layer/create.js';
import { Snapshots } from './snapshots.js';

describe('snapshot/snapshots', () => {
  let dir: string;
  let layer: Layer;
  const blobs = () => join(dir, 'blobs');
  const blobPath = (digest: string) => join(blobs(), digest.replace('sha256:', ''));

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'snapshots-'));
    await mkdir(join(dir, 'src/etc'), { recursive: true });
    await writeFile(join(dir, 'src/etc/os-release'), 'ID=test\n');
    await mkdir(blobs());
    layer = await createLayer(join(dir, 'src'), join(dir, 'layer.tgz'));
    execFileSync('mv', [join(dir, 'layer.tgz'), blobPath(layer.digest)]);
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('extracts a layer once, even with concurrent callers from two instances', async () => {
    const first = new Snapshots(join(dir, 'snapshots'), join(dir, 'tmp'), blobPath);
    const second = new Snapshots(join(dir, 'snapshots'), join(dir, 'tmp'), blobPath);
    assert.equal(await first.has(layer.diffId), false);
    const paths = await Promise.all([first.ensure(layer), first.ensure(layer), second.ensure(layer), second.ensure(layer)]);
    assert.ok(paths.every((path) => path === first.path(layer.diffId)));
    assert.equal(await readFile(join(paths[0]!, 'etc/os-release'), 'utf8'), 'ID=test\n');
    assert.deepEqual(await readdir(join(dir, 'snapshots')), [layer.diffId.slice(7)]);
    assert.deepEqual(await readdir(join(dir, 'tmp')), [], 'no temp dirs left');
    assert.equal(await first.has(layer.diffId), true);
  });

  it('rejects a blob whose diffId does not match and leaves nothing behind', async () => {
    const snapshots = new Snapshots(join(dir, 'snapshots'), join(dir, 'tmp'), blobPath);
    const wrong = { ...layer, diffId: 'sha256:' + '0'.repeat(64) };
    await assert.rejects(snapshots.ensure(wrong), (err: unknown) => err instanceof BuildError && err.code === 'LAYER_INVALID');
    assert.equal(await snapshots.has(wrong.diffId), false);
    assert.deepEqual(await readdir(join(dir, 'tmp')), []);
    await assert.rejects(snapshots.ensure({ ...layer, digest: 'sha256:' + '1'.repeat(64) }), /missing from the store/);
    assert.throws(() => snapshots.path('sha256:../../etc'), /not a sha256 diffId/);
  });

  it('adopts an upperdir, and drops a duplicate', async () => {
    const snapshots = new Snapshots(join(dir, 'snapshots'), join(dir, 'tmp'), blobPath);
    const upper = join(dir, 'upper');
    await mkdir(upper);
    await writeFile(join(upper, 'file'), 'one');
    const diffId = 'sha256:' + 'a'.repeat(64);
    const path = await snapshots.adopt(diffId, upper);
    assert.equal(await readFile(join(path, 'file'), 'utf8'), 'one');
    await mkdir(upper);
    await writeFile(join(upper, 'file'), 'two');
    assert.equal(await snapshots.adopt(diffId, upper), path);
    assert.equal(await readFile(join(path, 'file'), 'utf8'), 'one');
    await assert.rejects(readdir(upper), /ENOENT/);
  });
});
