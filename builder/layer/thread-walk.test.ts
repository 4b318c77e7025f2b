import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { link, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLayer } from './create.js';
import { fileReaderRunning, warmFileReader } from './file-reader.js';
import { pseudoRandom } from './golden-tree.js';
import type { Prepared } from './read-ahead.js';
import { ThreadWalk } from './thread-walk.js';
import { listLayer } from './tree-listing.js';
import { walkTree, type TreeEntry } from './tree-walk.js';

const isRoot = process.getuid?.() === 0;

async function drain(walk: ThreadWalk): Promise<Prepared[]> {
  const items: Prepared[] = [];
  for (;;) {
    const next = walk.next();
    const item = next instanceof Promise ? await next : next;
    if (!item) return items;
    items.push(item);
  }
}

const plain = (entry: TreeEntry): unknown => ({ rel: entry.rel, relDir: entry.relDir, name: entry.name, stat: { ...entry.stat } });

/** A layer built with the walk on the main thread (BUILDER_THREAD_WALK=off), as before the thread walk. */
async function mainThreadLayer(tree: string, out: string): Promise<unknown> {
  process.env['BUILDER_THREAD_WALK'] = 'off';
  try {
    return await createLayer(tree, out);
  } finally {
    delete process.env['BUILDER_THREAD_WALK'];
  }
}

describe('layer/thread-walk: a big tree walked on the reader thread', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'thread-walk-'));
    // As after a long RUN (exec/run.ts): the tar writer walks a big tree on the thread only once it is up.
    warmFileReader();
    assert.ok(fileReaderRunning());
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /** 600 small files in 12 dirs, plus every kind of entry a layer has. */
  async function mixedTree(): Promise<string> {
    const tree = join(dir, 'tree');
    for (let index = 0; index < 600; index++) {
      await mkdir(join(tree, `d${index % 12}`), { recursive: true });
      await writeFile(join(tree, `d${index % 12}`, `f${index}`), `content ${index}\n`.repeat(1 + (index % 40)));
    }
    await writeFile(join(tree, 'empty'), '');
    await writeFile(join(tree, 'medium'), pseudoRandom('medium', 300 * 1024));
    await writeFile(join(tree, 'big'), pseudoRandom('big', 8 * 1024 * 1024 + 3));
    await writeFile(join(tree, 'naïve ☃ name'), 'utf-8\n');
    await symlink('d0/f0', join(tree, 'a-link'));
    await link(join(tree, 'd3', 'f3'), join(tree, 'd11', 'hard-to-f3'));
    execFileSync('mkfifo', [join(tree, 'fifo')]);
    execFileSync('setfattr', ['-n', 'user.mark', '-v', 'here', join(tree, 'd5', 'f5')]);
    return tree;
  }

  it('yields the same entries in the same order as the main thread\'s walk, the small files\' bytes with them', async () => {
    const tree = await mixedTree();
    const expected = [...walkTree(tree)];
    const items = await drain(new ThreadWalk(tree));
    assert.deepEqual(items.map((item) => plain(item.entry)), expected.map(plain));
    let fromThread = 0;
    for (const item of items) {
      if (!item.batch) continue;
      fromThread++;
      const { rel, stat } = item.entry;
      const index = Number(rel.slice(rel.indexOf('/f') + 2));
      assert.equal(item.batch.contents!.toString('utf8', item.offset, item.offset + stat.size), `content ${index}\n`.repeat(1 + (index % 40)));
    }
    // How many the thread reads depends on which thread is ahead; it never reads a hardlink, the empty or a big file.
    assert.ok(items.filter((item) => item.batch).every((item) => item.entry.stat.nlink === 1 && item.entry.stat.size > 0 && item.entry.stat.size <= 256 * 1024));
    assert.ok(fromThread <= 601);
  });

  it('a layer is byte for byte the one the main-thread walk makes: hardlinks, symlinks, fifos, xattrs, big files', async () => {
    const tree = await mixedTree();
    const threaded = await createLayer(tree, join(dir, 'a.tgz'));
    assert.deepEqual(threaded, await mainThreadLayer(tree, join(dir, 'b.tgz')));
    assert.deepEqual(threaded, await createLayer(tree, join(dir, 'c.tgz'), { readerThread: false }));
    const byName = new Map((await listLayer(join(dir, 'a.tgz'))).entries.map((entry) => [entry.name, entry]));
    // d11 sorts before d3: the link is the later path.
    assert.equal(byName.get('d3/f3')!.type, 'link');
    assert.equal(byName.get('d3/f3')!.linkname, 'd11/hard-to-f3');
    assert.equal(byName.get('a-link')!.linkname, 'd0/f0');
    assert.equal(byName.get('fifo')!.type, 'fifo');
    assert.deepEqual(byName.get('d5/f5')!.xattrs.get('user.mark'), Buffer.from('here'));
    assert.equal(byName.get('big')!.size, 8 * 1024 * 1024 + 3);
  });

  it('overlay whiteouts sort by their .wh. name and opaque dirs get their marker, as on the main thread', async function () {
    if (!isRoot) {
      console.log('    skipped: whiteout devices and trusted.* xattrs need root');
      this.skip();
    }
    const tree = await mixedTree();
    // `b` as a whiteout is `.wh.b` in the tar: it sorts before `a-link`, unlike the plain name.
    execFileSync('mknod', [join(tree, 'b'), 'c', '0', '0']);
    execFileSync('mknod', [join(tree, 'd7', 'zz'), 'c', '0', '0']);
    await mkdir(join(tree, 'opaque'));
    await writeFile(join(tree, 'opaque', 'inside'), 'x');
    execFileSync('setfattr', ['-n', 'trusted.overlay.opaque', '-v', 'y', join(tree, 'opaque')]);
    assert.deepEqual((await drain(new ThreadWalk(tree))).map((item) => plain(item.entry)), [...walkTree(tree)].map(plain));
    const threaded = await createLayer(tree, join(dir, 'a.tgz'));
    assert.deepEqual(threaded, await mainThreadLayer(tree, join(dir, 'b.tgz')));
    const names = (await listLayer(join(dir, 'a.tgz'))).entries.map((entry) => entry.name);
    assert.ok(names.indexOf('.wh.b') < names.indexOf('a-link'));
    assert.ok(names.includes('d7/.wh.zz'));
    assert.ok(names.includes('opaque/.wh..wh..opq'));
  });

  it('an error reaches the writer where the walk met it, and two walks at once keep to their own trees', async () => {
    await assert.rejects(drain(new ThreadWalk(join(dir, 'missing'))), (err: NodeJS.ErrnoException) => err.code === 'ENOENT');
    const one = join(dir, 'one');
    const two = join(dir, 'two');
    for (let index = 0; index < 700; index++) {
      await mkdir(join(index % 2 ? one : two, `d${index % 7}`), { recursive: true });
      await writeFile(join(index % 2 ? one : two, `d${index % 7}`, `f${index}`), `${index % 2 ? 'one' : 'two'} ${index}\n`);
    }
    const [first, second] = await Promise.all([drain(new ThreadWalk(one)), drain(new ThreadWalk(two))]);
    assert.deepEqual(first.map((item) => item.entry.rel), [...walkTree(one)].map((entry) => entry.rel));
    assert.deepEqual(second.map((item) => item.entry.rel), [...walkTree(two)].map((entry) => entry.rel));
    // A walk stopped half-way leaves the thread free for the next one.
    const stopped = new ThreadWalk(one);
    for (let index = 0; index < 10; index++) {
      const next = stopped.next();
      if (next instanceof Promise) await next;
    }
    stopped.close();
    assert.equal((await drain(new ThreadWalk(two))).length, second.length);
  });
});
