/**
 * Layer bytes are part of every image digest: the same tree must give the same layer on every version of the
 * writer. The digests below were produced by the writer on main before the batched writer (s2-tar) replaced it;
 * a change that makes this test fail changes every image's digest, and needs a documented, versioned decision.
 */
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLayer, type CreateLayerOptions } from './create.js';
import { makeGoldenTree } from './golden-tree.js';

const PINNED: { title: string; options: CreateLayerOptions; diffId: string; digest: string; size: number }[] = [
  { title: 'default', options: {},
    diffId: 'sha256:9dcd9c81fd37b1b480b9c40c91620829dedc45bde77cbb70d4b09565753a486f',
    digest: 'sha256:bbe730b80087f3b76a55ca417fcc24ac01eb09f5a62667878be79620e6c763d3',
    size: 11627799 },
  { title: 'SOURCE_DATE_EPOCH clamps', options: { sourceDateEpoch: 1_650_000_000 },
    diffId: 'sha256:dd2b91445ccbee10317ef4fbbf62b4acd914fe34cf59c20b361d0b12ca48cba8',
    digest: 'sha256:faa8efbb50a9422229339335ba3fc9a0b85beb3726945348fc09b457ad2f52ae',
    size: 11626686 },
  { title: 'gzip level 6', options: { gzipLevel: 6 },
    diffId: 'sha256:9dcd9c81fd37b1b480b9c40c91620829dedc45bde77cbb70d4b09565753a486f',
    digest: 'sha256:ce890336d91e8773f8c9ee29220b8048c4895bf562d2ce1f4db55a432d24be94',
    size: 11377637 },
  { title: 'a 1-byte spool (the tar waits for gzip at every write)', options: { spoolBytes: 1 },
    diffId: 'sha256:9dcd9c81fd37b1b480b9c40c91620829dedc45bde77cbb70d4b09565753a486f',
    digest: 'sha256:bbe730b80087f3b76a55ca417fcc24ac01eb09f5a62667878be79620e6c763d3',
    size: 11627799 },
  { title: 'every file read on the event loop (no reader thread)', options: { readerThread: false },
    diffId: 'sha256:9dcd9c81fd37b1b480b9c40c91620829dedc45bde77cbb70d4b09565753a486f',
    digest: 'sha256:bbe730b80087f3b76a55ca417fcc24ac01eb09f5a62667878be79620e6c763d3',
    size: 11627799 },
];

function hasTools(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root (chown, mknod, trusted.* xattrs)';
  for (const tool of ['setfattr', 'setcap', 'mknod', 'mkfifo']) {
    try {
      execFileSync('sh', ['-c', `command -v ${tool}`]);
    } catch {
      return `needs ${tool}`;
    }
  }
  return undefined;
}

describe('layer/create: pinned layer digests (same tree ⇒ same bytes as every earlier writer)', function () {
  this.timeout(60_000);
  let dir = '';
  let tree = '';
  before(async function () {
    const missing = hasTools();
    if (missing) {
      console.log(`      pinned layer digests SKIPPED: ${missing}`);
      this.skip();
    }
    dir = await mkdtemp(join(tmpdir(), 'layer-golden-'));
    tree = join(dir, 'tree');
    await mkdir(tree);
    await makeGoldenTree(tree);
  });
  after(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  for (const pinned of PINNED) {
    it(pinned.title, async () => {
      const layer = await createLayer(tree, join(dir, 'layer.tgz'), pinned.options);
      if (process.env.PRINT_GOLDEN) console.log(JSON.stringify({ title: pinned.title, diffId: layer.diffId, digest: layer.digest, size: layer.size }));
      assert.deepEqual(
        { diffId: layer.diffId, digest: layer.digest, size: layer.size },
        { diffId: pinned.diffId, digest: pinned.digest, size: pinned.size },
      );
    });
  }
});
