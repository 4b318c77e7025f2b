import { strict as assert } from 'node:assert';
import { createHash } from 'node:crypto';
import { readdirSync, statSync } from 'node:fs';
import { link, mkdir, mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { createLayer, startLayer } from './create.js';
import { readFiles } from './file-reader.js';
import { ReadAhead } from './read-ahead.js';
import { walkTree, type TreeEntry } from './tree-walk.js';
import { GzipBlobWriter } from './gzip-writer.js';
import { pseudoRandom } from './golden-tree.js';
import { SpooledWriter } from './spooled-writer.js';
import { listLayer } from './tree-listing.js';
import { readXattrTree } from './xattrs.js';

const openFds = (): number => readdirSync('/proc/self/fd').length;
const sha256 = (data: Buffer): string => `sha256:${createHash('sha256').update(data).digest('hex')}`;

describe('layer/tar-writer: files read ahead, big files by handle', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tar-writer-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('the reader thread returns the files\' bytes, and names a missing or resized file', async () => {
    await writeFile(join(dir, 'a'), 'alpha');
    await writeFile(join(dir, 'b'), 'be');
    const both = await readFiles([join(dir, 'a'), join(dir, 'b')], [5, 2], 7);
    assert.equal(both.toString(), 'alphabe');
    await assert.rejects(readFiles([join(dir, 'a'), join(dir, 'gone')], [5, 1], 6), (err: NodeJS.ErrnoException) => err.code === 'ENOENT');
    await assert.rejects(readFiles([join(dir, 'a')], [9], 9), /"[^"]*\/a" changed size while it was being archived/);
  });

  it('read-ahead: a file gone between the walk and its read fails its batch with ENOENT', async () => {
    const tree = join(dir, 'tree');
    await mkdir(tree);
    for (let index = 0; index < 400; index++) await writeFile(join(tree, `f${String(index).padStart(3, '0')}`), `file ${index}\n`);
    // As if f399 went after its lstat: the walk names a path that is not there.
    function* walk(): Generator<TreeEntry> {
      for (const entry of walkTree(tree)) yield entry.rel === 'f399' ? { ...entry, rel: 'f399-gone' } : entry;
    }
    const ahead = new ReadAhead(tree, walk());
    ahead.fill(1000); // walked and, past 256 small files, requested from the reader thread
    const failures: unknown[] = [];
    for (let item = ahead.next(); item; item = ahead.next()) {
      if (!item.batch) continue;
      const contents = await item.batch.promise!.catch((err: unknown) => { failures.push(err); return undefined; });
      if (contents) assert.equal(contents.toString('utf8', item.offset, item.offset + item.entry.stat.size), `file ${Number(item.entry.name.slice(1))}\n`);
    }
    assert.ok(failures.length > 0 && failures.every((err) => (err as NodeJS.ErrnoException).code === 'ENOENT'), 'the batch holding f399 fails');
  });

  it('a layer of many small files is the same with and without the reader thread', async () => {
    const tree = join(dir, 'tree');
    for (let index = 0; index < 1500; index++) {
      await mkdir(join(tree, `d${index % 30}`), { recursive: true });
      await writeFile(join(tree, `d${index % 30}`, `f${index}`), `content ${index}\n`.repeat(1 + (index % 50)));
    }
    const threaded = await createLayer(tree, join(dir, 'a.tgz'));
    const plain = await createLayer(tree, join(dir, 'b.tgz'), { readerThread: false });
    assert.deepEqual(threaded, plain);
    assert.equal((await listLayer(join(dir, 'a.tgz'))).entries.length, 1530);
  });

  it('small files that add up to more than the read-ahead budget (16 MiB) give the same bytes', async () => {
    const tree = join(dir, 'tree');
    await mkdir(tree);
    for (let index = 0; index < 300; index++) await writeFile(join(tree, `f${String(index).padStart(3, '0')}`), pseudoRandom(`f${index}`, 100 * 1024 + index));
    const threaded = await createLayer(tree, join(dir, 'a.tgz'), { gzipLevel: 0 });
    const plain = await createLayer(tree, join(dir, 'b.tgz'), { gzipLevel: 0, readerThread: false });
    assert.deepEqual(threaded, plain);
  });

  it('written ahead of getfattr: xattrs and an opaque dir early and late in a big tree still land in the tar', async () => {
    const tree = join(dir, 'tree');
    // Over the mount helper's 200 entries (getfattr reads them) and over one write-ahead slice (512).
    for (let index = 0; index < 1200; index++) {
      await mkdir(join(tree, `d${index % 12}`), { recursive: true });
      await writeFile(join(tree, `d${index % 12}`, `f${index}`), `file ${index}\n`);
    }
    await mkdir(join(tree, 'a-opaque'));
    await writeFile(join(tree, 'a-opaque', 'inside'), 'x');
    execFileSync('setfattr', ['-n', 'trusted.overlay.opaque', '-v', 'y', join(tree, 'a-opaque')]);
    execFileSync('setfattr', ['-n', 'user.early', '-v', '0x0102', join(tree, 'd0', 'f0')]);
    execFileSync('setfattr', ['-n', 'user.late', '-v', 'late', join(tree, 'd9', 'f1197')]);
    // A hardlink pair on either side of the first changed entry: the link must still name the first path.
    await link(join(tree, 'd0', 'f12'), join(tree, 'd11', 'link-to-f12'));
    const layer = await createLayer(tree, join(dir, 'layer.tgz'));
    const { entries, diffId } = await listLayer(join(dir, 'layer.tgz'));
    assert.equal(diffId, layer.diffId);
    const byName = new Map(entries.map((entry) => [entry.name, entry]));
    assert.ok(byName.has('a-opaque/.wh..wh..opq'), 'the opaque dir gets its whiteout');
    assert.equal(byName.get('a-opaque/')!.xattrs.size, 0, 'trusted.overlay.* is dropped');
    assert.deepEqual(byName.get('d0/f0')!.xattrs.get('user.early'), Buffer.from([1, 2]));
    assert.deepEqual(byName.get('d9/f1197')!.xattrs.get('user.late'), Buffer.from('late'));
    assert.equal(byName.get('d11/link-to-f12')!.type, 'link');
    assert.equal(byName.get('d11/link-to-f12')!.linkname, 'd0/f12');
    assert.equal(byName.get('d0/f12')!.content, 'file 12\n');
    assert.equal(entries.filter((entry) => entry.name.startsWith('d')).length, 12 + 1201);
    assert.deepEqual(await createLayer(tree, join(dir, 'plain.tgz'), { readerThread: false }), layer);
  });

  it('queues big files by handle: the bytes are the same and every handle is closed', async () => {
    const tree = join(dir, 'tree');
    await mkdir(tree);
    const parts = [pseudoRandom('one', 9 * 1024 * 1024), Buffer.from('text line\n'.repeat(1_000_000)), pseudoRandom('three', 8 * 1024 * 1024 + 1)];
    for (const [index, part] of parts.entries()) await writeFile(join(tree, `big${index}`), part);
    // The mount helper (a long-lived process with its pipes) reads a small tree's xattrs: started before counting.
    await readXattrTree(tree);
    const before = openFds();
    const layer = await createLayer(tree, join(dir, 'layer.tgz'));
    assert.equal(openFds(), before, 'no handle is left open');
    const { entries, diffId } = await listLayer(join(dir, 'layer.tgz'));
    assert.equal(diffId, layer.diffId);
    assert.deepEqual(entries.map((entry) => entry.size), parts.map((part) => part.length));
    assert.equal(sha256(Buffer.from(entries[1]!.content)), sha256(parts[1]!));
  });

  it('a big file queued by handle is compressed whole after its tree is removed (adopting onto an existing snapshot)', async () => {
    const tree = join(dir, 'tree');
    await mkdir(tree);
    await writeFile(join(tree, 'a-text'), 'numbers 1234567890\n'.repeat(3_200_000));
    await writeFile(join(tree, 'z-big'), pseudoRandom('z', 8 * 1024 * 1024));
    const expected = await createLayer(tree, join(dir, 'expected.tgz'));
    const started = await startLayer(tree, join(dir, 'layer.tgz'));
    await rm(tree, { recursive: true }); // unlinking moves each file's ctime, not its bytes
    assert.deepEqual(await started.layer, expected);
  });

  it('a big file changed after its step but before it was compressed fails the blob, which is removed', async () => {
    const tree = join(dir, 'tree');
    await mkdir(tree);
    // ~60 MB of text first: its gzip takes long enough that the second file is changed before it is read again.
    await writeFile(join(tree, 'a-text'), 'numbers 1234567890\n'.repeat(3_200_000));
    await writeFile(join(tree, 'z-big'), pseudoRandom('z', 8 * 1024 * 1024));
    const out = join(dir, 'layer.tgz');
    const started = await startLayer(tree, out);
    const state = await Promise.race([started.layer.then(() => 'done', () => 'failed'), new Promise((resolve) => setImmediate(() => resolve('pending')))]);
    assert.equal(state, 'pending');
    const handle = await open(join(tree, 'z-big'), 'r+');
    await handle.write(Buffer.from('changed'), 0, 7, 1000);
    await handle.close();
    await assert.rejects(started.layer, /"[^"]*z-big" changed while its layer was being compressed/);
    assert.throws(() => statSync(out), /ENOENT/);
  });

  it('more queued handles than the cap: the writer waits, the blob is whole; an abort closes what is queued', async () => {
    const files: string[] = [];
    for (let index = 0; index < 150; index++) {
      files.push(join(dir, `f${index}`));
      await writeFile(files[index]!, `file number ${index}\n`);
    }
    const before = openFds();
    const handle = await open(join(dir, 'blob'), 'w');
    const spool = new SpooledWriter(new GzipBlobWriter(handle, 1, false));
    for (const path of files) {
      const content = await readFile(path);
      spool.hash(content);
      await spool.writeFile({ handle: await open(path, 'r'), stat: statSync(path), path });
    }
    const { diffId, blob } = spool.end();
    await blob;
    await handle.close();
    const expected = Buffer.concat(await Promise.all(files.map((path) => readFile(path))));
    assert.equal(diffId, sha256(expected));
    assert.ok(gunzipSync(await readFile(join(dir, 'blob'))).equals(expected));
    assert.equal(openFds(), before);

    const second = await open(join(dir, 'blob2'), 'w');
    const aborted = new SpooledWriter(new GzipBlobWriter(second, 1, false));
    for (const path of files.slice(0, 40)) await aborted.writeFile({ handle: await open(path, 'r'), stat: statSync(path), path });
    await aborted.abort();
    await second.close();
    assert.equal(openFds(), before, 'an abort closes every queued handle');
  });
});
