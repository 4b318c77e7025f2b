import { strict as assert } from 'node:assert';
import { createHash } from 'node:crypto';
import { lstatSync, mkdirSync, readdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { digestSources, type CopyOptions } from './copy.js';
import { ContextHashCache, statKey } from './hash-cache.js';
import { tempDir } from './test-fixtures.js';

const options: CopyOptions = { sources: ['.'], dest: '/app/', add: false, exclude: [], parents: false };
const sha = (text: string): string => createHash('sha256').update(text).digest('hex');
const OLD = new Date('2020-01-01T00:00:00Z');

describe('context/hash-cache ContextHashCache', () => {
  let tmp: ReturnType<typeof tempDir>;
  let root: string;
  let cacheDir: string;
  beforeEach(() => {
    tmp = tempDir('hash-cache');
    root = path.join(tmp.dir, 'context');
    cacheDir = path.join(tmp.dir, 'cache');
    mkdirSync(root);
  });
  afterEach(() => tmp.cleanup());

  /** A file whose stat key no earlier digest in this process saw (the in-memory map would answer first). */
  const freshFile = (name: string, content: string): string => {
    const file = path.join(root, name);
    writeFileSync(file, content);
    return file;
  };

  it('answers from the file a previous build saved, without reading the content', async () => {
    const file = freshFile('a.txt', 'real content');
    const key = statKey(lstatSync(file));
    // What an earlier build recorded for this exact stat: if the digest comes out with it, no byte was read.
    const cache = ContextHashCache.forContext(cacheDir, root);
    const recorded = sha('recorded earlier');
    cache.remember(key, recorded, 0, Date.now());
    cache.save();
    const files: Record<string, string> = {};
    await digestSources({ root, isContext: true, hashes: ContextHashCache.forContext(cacheDir, root) }, options, files);
    assert.ok(files['a.txt']?.includes(recorded), `the saved hash is used: ${files['a.txt']}`);
    // Without the saved file the content is read (and hashed for real).
    const read: Record<string, string> = {};
    await digestSources({ root, isContext: true, hashes: ContextHashCache.forContext(path.join(tmp.dir, 'empty'), root) }, options, read);
    assert.ok(read['a.txt']?.includes(sha('real content')), `read for real without it: ${read['a.txt']}`);
  });

  it('keeps hashes of files changed long enough ago, and not of one changed just now (racily clean)', async () => {
    const settled = freshFile('old.txt', 'old');
    utimesSync(settled, OLD, OLD);
    freshFile('new.txt', 'new');
    const cache = ContextHashCache.forContext(cacheDir, root);
    await digestSources({ root, isContext: true, hashes: cache }, options);
    // ctime is "now" for both (utimes sets it): nothing is settled yet, so nothing is written.
    cache.save();
    assert.equal(readdirSafe(path.join(cacheDir, 'context-hashes')).length, 0);
    const later = ContextHashCache.forContext(cacheDir, root);
    later.remember(statKey(lstatSync(settled)), sha('old'), lstatSync(settled).ctimeMs, Date.now() + 5000);
    later.save();
    const [saved] = readdirSafe(path.join(cacheDir, 'context-hashes'));
    const hashes = (JSON.parse(readFileSync(path.join(cacheDir, 'context-hashes', saved!), 'utf8')) as { hashes: Record<string, string> }).hashes;
    assert.deepEqual(Object.values(hashes), [sha('old')]);
  });

  it('starts empty from an unreadable file and replaces it on save; one file per context directory', async () => {
    const other = ContextHashCache.forContext(cacheDir, path.join(tmp.dir, 'elsewhere'));
    other.remember('1:2:3:4:5', sha('x'), 0);
    other.save();
    assert.equal(ContextHashCache.forContext(cacheDir, root).get('1:2:3:4:5'), undefined, 'another context\'s hashes are not this one\'s');
    const cache = ContextHashCache.forContext(cacheDir, root);
    cache.remember('9:9:9:9:9', sha('y'), 0);
    cache.save();
    const names = readdirSafe(path.join(cacheDir, 'context-hashes'));
    assert.equal(names.length, 2);
    for (const name of names) writeFileSync(path.join(cacheDir, 'context-hashes', name), '{');
    const broken = ContextHashCache.forContext(cacheDir, root);
    assert.equal(broken.get('9:9:9:9:9'), undefined);
    broken.remember('9:9:9:9:9', sha('z'), 0);
    broken.save();
    assert.equal(ContextHashCache.forContext(cacheDir, root).get('9:9:9:9:9'), sha('z'));
  });
});

function readdirSafe(dir: string): string[] {
  try {
    return readdirSync(dir).filter((name) => name.endsWith('.json'));
  } catch {
    return [];
  }
}
