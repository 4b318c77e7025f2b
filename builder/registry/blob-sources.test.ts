import { strict as assert } from 'node:assert';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { BlobSources } from './blob-sources.js';

describe('blob sources (registry/blob-sources.json)', function () {
  let root: string;
  beforeEach(async function () { root = await mkdtemp(path.join(tmpdir(), 'blob-sources-')); });
  afterEach(async function () { await rm(root, { recursive: true, force: true }); });

  it('keeps every entry of records written at once (a build\'s cached layers and its push\'s target)', async function () {
    // Two handles on one store, as export-image.ts and push.ts each make their own.
    const repos = Array.from({ length: 12 }, (_, i) => `repo-${i}`);
    await Promise.all(repos.map((repo, i) => new BlobSources(root).record([`sha256:${String(i % 3).repeat(64)}`, 'sha256:' + 'f'.repeat(64)], 'registry.test', repo)));
    const table = await new BlobSources(root).all();
    assert.deepEqual([...(table['sha256:' + 'f'.repeat(64)] ?? [])].sort(), repos.slice(-8).map((r) => `registry.test/${r}`).sort(), 'the 8 most recent sources of a blob shared by all');
    for (let k = 0; k < 3; k++) {
      assert.deepEqual([...(table[`sha256:${String(k).repeat(64)}`] ?? [])].sort(), repos.filter((_, i) => i % 3 === k).map((r) => `registry.test/${r}`).sort());
    }
  });

  it('a failed write does not stop the next one', async function () {
    const sources = new BlobSources(root);
    // registry/ is a file: the write cannot make its directory.
    await writeFile(path.join(root, 'registry'), 'not a directory');
    await assert.rejects(sources.record(['sha256:' + 'a'.repeat(64)], 'registry.test', 'lost'));
    await rm(path.join(root, 'registry'));
    await sources.record(['sha256:' + 'b'.repeat(64)], 'registry.test', 'ok');
    assert.deepEqual(await sources.sourcesOf('sha256:' + 'b'.repeat(64)), ['registry.test/ok']);
  });
});
