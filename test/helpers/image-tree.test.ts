/** The parity harness's own reader and comparison, on real tar layers: whiteouts, opaque dirs, hardlinks, ignores. */
import { strict as assert } from 'node:assert';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import tar, { type Header } from 'tar-stream';
import { flattenImage } from './image-tree.js';
import { applyIgnores, diffConfigs, diffFileTrees } from './parity-compare.js';
import { makeTempDir, removeTempDir } from './temp-root.js';

async function layerTar(entries: (Partial<Header> & { name: string; body?: string })[]): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  const done = new Promise<Buffer>((resolve) => {
    pack.on('data', (chunk: unknown) => chunks.push(chunk as Buffer));
    pack.on('end', () => resolve(Buffer.concat(chunks)));
  });
  for (const { body, ...header } of entries) pack.entry({ mode: 0o644, uid: 0, gid: 0, ...header }, body ?? '');
  pack.finalize();
  return done;
}

describe('parity harness: flattened image trees', function () {
  let dir = '';
  before(async () => {
    dir = await makeTempDir('image-tree');
  });
  after(() => removeTempDir(dir));

  it('applies whiteouts, opaque dirs and type changes only to lower layers, and counts hardlinks', async () => {
    const lower = await layerTar([
      { name: 'a/', type: 'directory', mode: 0o755 },
      { name: 'a/f', body: 'data' },
      { name: 'a/g', type: 'link', linkname: 'a/f' },
      { name: 'd/', type: 'directory', mode: 0o755 },
      { name: 'd/old', body: 'old' },
      { name: 'keep', body: 'k', mode: 0o4755, uid: 1000, gid: 1000 },
      { name: 'gone', body: 'g' },
      { name: 'was-dir/', type: 'directory' },
      { name: 'was-dir/child', body: 'c' },
      { name: 'ln', type: 'symlink', linkname: '/a/f' },
    ]);
    const upper = await layerTar([
      { name: 'd/', type: 'directory', mode: 0o700 },
      { name: 'd/.wh..wh..opq' },
      { name: 'd/new', body: 'new' },
      { name: '.wh.gone' },
      { name: 'was-dir', body: 'now a file' },
      { name: 'deep/er/file', body: 'x' },
    ]);
    await writeFile(path.join(dir, 'lower.tar'), lower);
    await writeFile(path.join(dir, 'upper.tar.gz'), gzipSync(upper));
    const tree = await flattenImage({ config: {}, layers: [path.join(dir, 'lower.tar'), path.join(dir, 'upper.tar.gz')] });
    assert.deepEqual([...tree.keys()], ['/a', '/a/f', '/a/g', '/d', '/d/new', '/deep', '/deep/er', '/deep/er/file', '/keep', '/ln', '/was-dir']);
    assert.match(tree.get('/a/g')!, /^file 0644 0:0 4 \w+ nlink=2$/);
    assert.equal(tree.get('/a/f'), tree.get('/a/g'));
    assert.equal(tree.get('/d'), 'dir 0700 0:0');
    assert.match(tree.get('/keep')!, /^file 4755 1000:1000 1 /);
    assert.equal(tree.get('/ln'), 'symlink 0:0 -> /a/f');
    assert.match(tree.get('/was-dir')!, /^file 0644 0:0 10 /);
  });

  it('treats absent, null and empty config values alike and reports documented differences as stale when they vanish', () => {
    const docker = { config: { Env: ['A=1'], Cmd: null, ExposedPorts: { '80/tcp': {} }, Healthcheck: { Test: ['NONE'], Interval: 0 } } };
    const ours = { config: { Env: ['A=1'], Cmd: [], OnBuild: [], ExposedPorts: { '80/tcp': {} }, Healthcheck: { Test: ['NONE'] }, User: 'app' } };
    const differences = [...diffConfigs(docker, ours), ...diffFileTrees(new Map([['/x', 'dir'], ['/y', 'file']]), new Map([['/x', 'dir'], ['/z', 'file']]))];
    assert.deepEqual(differences.map((difference) => difference.text), [
      'Config.User: docker undefined, builder "app"',
      'missing /y (docker: file)',
      'extra /z (builder: file)',
    ]);
    const { undocumented, stale } = applyIgnores(differences, [
      { field: 'Config.User', reason: 'r' },
      { path: '/z/**', reason: 'r' },
      { path: '/never', reason: 'r' },
    ]);
    assert.deepEqual(undocumented, ['missing /y (docker: file)']);
    assert.deepEqual(stale.map((entry) => entry.path), ['/never']);
  });
});
