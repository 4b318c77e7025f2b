import { strict as assert } from 'node:assert';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { createMatcher, loadIgnore } from './ignore.js';
import { tempDir } from './test-fixtures.js';

describe('context/ignore', () => {
  let tmp: ReturnType<typeof tempDir>;
  beforeEach(() => (tmp = tempDir('ignore')));
  afterEach(() => tmp.cleanup());

  it('dockerignore syntax: parents exclude children, ! exceptions, **, leading / and comments', () => {
    const matcher = createMatcher(['# comment', '', '/dir', '!dir/keep.txt', '**/*.tmp', '*.log', './build/']);
    const table: [string, boolean][] = [
      ['dir', true], ['dir/a', true], ['dir/keep.txt', false], ['a/b/c.tmp', true], ['x.log', true],
      ['sub/x.log', false], ['build/out', true], ['dirx', false], ['', false], ['.', false],
    ];
    for (const [rel, excluded] of table) assert.equal(matcher(rel), excluded, rel);
  });

  it('prefers <Dockerfile>.dockerignore beside the Dockerfile over .dockerignore', async () => {
    writeFileSync(path.join(tmp.dir, '.dockerignore'), 'a\n');
    writeFileSync(path.join(tmp.dir, 'app.Dockerfile.dockerignore'), 'b\n');
    const preferred = await loadIgnore(tmp.dir, path.join(tmp.dir, 'app.Dockerfile'));
    assert.equal(preferred('b'), true);
    assert.equal(preferred('a'), false);
    const fallback = await loadIgnore(tmp.dir, path.join(tmp.dir, 'Dockerfile'));
    assert.equal(fallback('a'), true);
    assert.equal((await loadIgnore(tmp.dir))('a'), true);
  });

  it('no ignore file matches nothing', async () => {
    const matcher = await loadIgnore(tmp.dir, 'Dockerfile');
    assert.equal(matcher('anything'), false);
  });
});
