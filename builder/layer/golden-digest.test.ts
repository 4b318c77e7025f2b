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
    diffId: 'sha256:39e31a144acf787e00295beb05296a5362f58f1a9f349610b5edd5fe12df490c',
    digest: 'sha256:035f8a018812d86ddaa8abf95d7801070d678791d92b9a64679f19b82b32218c',
    size: 11627777 },
  { title: 'SOURCE_DATE_EPOCH clamps', options: { sourceDateEpoch: 1_650_000_000 },
    diffId: 'sha256:5a2ec6ceb7f6b0e2af5ce275a91ce68a8e21e137bba0e93b4003b7d2323fc5c1',
    digest: 'sha256:044e751d0f22eca97350684a8804359690c12ad6b15be69e8de980230853dd7d',
    size: 11626666 },
  { title: 'gzip level 6', options: { gzipLevel: 6 },
    diffId: 'sha256:39e31a144acf787e00295beb05296a5362f58f1a9f349610b5edd5fe12df490c',
    digest: 'sha256:69b91f07be219398d90e8afe843d211bb2d66bfd3d9c8dfdd0c4baa9a086d466',
    size: 11377614 },
  { title: 'a 1-byte spool (the tar waits for gzip at every write)', options: { spoolBytes: 1 },
    diffId: 'sha256:39e31a144acf787e00295beb05296a5362f58f1a9f349610b5edd5fe12df490c',
    digest: 'sha256:035f8a018812d86ddaa8abf95d7801070d678791d92b9a64679f19b82b32218c',
    size: 11627777 },
  { title: 'every file read on the event loop (no reader thread)', options: { readerThread: false },
    diffId: 'sha256:39e31a144acf787e00295beb05296a5362f58f1a9f349610b5edd5fe12df490c',
    digest: 'sha256:035f8a018812d86ddaa8abf95d7801070d678791d92b9a64679f19b82b32218c',
    size: 11627777 },
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
