import { strict as assert } from 'node:assert';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { createMatcher, loadIgnore, readIgnoreFile } from './ignore.js';
import { isValidPattern } from './pattern-check.js';
import { tempDir } from './test-fixtures.js';

describe('context/ignore', () => {
  let tmp: ReturnType<typeof tempDir>;
  beforeEach(() => (tmp = tempDir('ignore')));
  afterEach(() => tmp.cleanup());

  it('dockerignore syntax: parents exclude children, ! exceptions, **, leading / and comments', () => {
    const matcher = createMatcher(['', '/dir', '!dir/keep.txt', '**/*.tmp', '*.log', './build/']);
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

  it('reads a .dockerignore as patternmatcher does: # only in column 1, BOM dropped, paths cleaned', () => {
    const patterns = readIgnoreFile('\uFEFF# comment\n  # hash\nfile#1.txt\r\n./sub/x.log\n//drop.txt\n\n   \na//b/\n');
    assert.deepEqual(patterns, ['# hash', 'file#1.txt', './sub/x.log', '//drop.txt', 'a//b/']);
    const matcher = createMatcher(patterns);
    for (const rel of ['# hash', 'file#1.txt', 'sub/x.log', 'drop.txt', 'a/b', 'a/b/c']) assert.equal(matcher(rel), true, rel);
    for (const rel of ['# comment', 'sub', 'file', 'a']) assert.equal(matcher(rel), false, rel);
  });

  it('refuses malformed patterns with BuildKit\'s words; a .dockerignore fails when first used', async () => {
    assert.throws(() => createMatcher(['a', '!']), /illegal exclusion pattern: "!"/);
    assert.throws(() => createMatcher(['[a']), /syntax error in pattern "\[a"/);
    for (const good of ['a', '[]a]', '[^a-z]', '\\*', 'a[b-c]d', '**/x']) assert.ok(isValidPattern(good), good);
    for (const bad of ['[a', 'a\\', '[a-]', '[-a]', '[]', '[z-']) assert.ok(!isValidPattern(bad), bad);
    writeFileSync(path.join(tmp.dir, '.dockerignore'), 'ok\n!\n');
    const matcher = await loadIgnore(tmp.dir);
    assert.throws(() => matcher('x'), /invalid \.dockerignore: illegal exclusion pattern/);
  });

  it('no ignore file matches nothing', async () => {
    const matcher = await loadIgnore(tmp.dir, 'Dockerfile');
    assert.equal(matcher('anything'), false);
  });
});
