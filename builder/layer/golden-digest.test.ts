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
    diffId: 'sha256:9df5d59b58cf7cb739f36ad32d4ee5ea9417e396b22283f800195e814d256155',
    digest: 'sha256:bec7623e08dd524e35d326c1b45e4598cbf04112c4a70d24def6b98d38296c23',
    size: 4627712 },
  { title: 'SOURCE_DATE_EPOCH clamps', options: { sourceDateEpoch: 1_650_000_000 },
    diffId: 'sha256:46ae85e60b326a45909dea0ba4c728c7eea82e6e752c9bd1e646f9376e71a88c',
    digest: 'sha256:667844cf369dcf57e9a0c5d93aca50174376a24cfbc8ac68dc8619df3fb1a8ca',
    size: 4626613 },
  { title: 'gzip level 6', options: { gzipLevel: 6 },
    diffId: 'sha256:9df5d59b58cf7cb739f36ad32d4ee5ea9417e396b22283f800195e814d256155',
    digest: 'sha256:7876c13e2b64cbc5b2947b3aff5d123bdad406ab8a361ac9619f50f056b2eef9',
    size: 4513128 },
  { title: 'a 1-byte spool (the tar waits for gzip at every write)', options: { spoolBytes: 1 },
    diffId: 'sha256:9df5d59b58cf7cb739f36ad32d4ee5ea9417e396b22283f800195e814d256155',
    digest: 'sha256:bec7623e08dd524e35d326c1b45e4598cbf04112c4a70d24def6b98d38296c23',
    size: 4627712 },
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
