import { strict as assert } from 'node:assert';
import { chmodSync, cpSync, mkdirSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { BuildError } from '../errors.js';
import { digestSources, type CopyOptions, type CopySource } from './copy.js';
import { contentHashCount, forgetContentHashes } from './digest.js';
import { loadIgnore } from './ignore.js';
import { makeContext, tempDir } from './test-fixtures.js';

const options: CopyOptions = { sources: ['.'], dest: '/app/', add: false, exclude: [], parents: false };

describe('context/digest digestSources', () => {
  let tmp: ReturnType<typeof tempDir>;
  let ctx: CopySource;
  beforeEach(() => {
    tmp = tempDir('digest');
    const root = path.join(tmp.dir, 'one');
    mkdirSync(root);
    makeContext(root);
    ctx = { root, isContext: true };
  });
  afterEach(() => tmp.cleanup());

  it('ignores mtimes and the context location', async () => {
    const first = await digestSources(ctx, options);
    assert.match(first, /^sha256:[0-9a-f]{64}$/);
    utimesSync(path.join(ctx.root, 'dir/sub/c.txt'), new Date(), new Date(5_000_000));
    assert.equal(await digestSources(ctx, options), first);
    const copyRoot = path.join(tmp.dir, 'elsewhere', 'two');
    cpSync(ctx.root, copyRoot, { recursive: true, verbatimSymlinks: true });
    assert.equal(await digestSources({ root: copyRoot, isContext: true }, options), first);
  });

  it('changes with content, mode, options and heredoc text', async () => {
    const first = await digestSources(ctx, options);
    writeFileSync(path.join(ctx.root, 'dir/sub/c.txt'), 'C\n');
    const second = await digestSources(ctx, options);
    assert.notEqual(second, first);
    chmodSync(path.join(ctx.root, 'dir/sub/c.txt'), 0o600);
    const third = await digestSources(ctx, options);
    assert.notEqual(third, second);
    assert.notEqual(await digestSources(ctx, { ...options, chown: { uid: 1, gid: 1 } }), third);
    assert.notEqual(await digestSources(ctx, { ...options, dest: '/other/' }), third);
    const inline = { ...options, sources: ['EOF'], inline: [{ name: 'EOF', content: 'a' }] };
    assert.notEqual(await digestSources(ctx, inline), await digestSources(ctx, { ...inline, inline: [{ name: 'EOF', content: 'b' }] }));
  });

  it('honours .dockerignore: an ignored file does not change the digest', async () => {
    writeFileSync(path.join(ctx.root, '.dockerignore'), 'b.md\n');
    const source = { ...ctx, ignore: await loadIgnore(ctx.root) };
    const first = await digestSources(source, options);
    writeFileSync(path.join(ctx.root, 'b.md'), 'changed');
    assert.equal(await digestSources(source, options), first);
  });

  it('keeps no content hashes of a context once it is forgotten: a worker\'s builds of fresh contexts do not pile up', async () => {
    const before = contentHashCount();
    const roots = [1, 2, 3].map((n) => {
      const root = path.join(tmp.dir, `job-${n}`);
      cpSync(ctx.root, root, { recursive: true, verbatimSymlinks: true });
      return root;
    });
    const digests = [];
    for (const root of roots) {
      digests.push(await digestSources({ root, isContext: true }, options));
      assert.ok(contentHashCount() > before, 'hashes are memoized while the context lives');
      forgetContentHashes(root);
      assert.equal(contentHashCount(), before, `nothing of ${root} is kept`);
    }
    assert.equal(new Set(digests).size, 1, 'forgetting changes no digest');
  });

  it('fails like copyInto for missing sources (../x is the context\'s x)', async () => {
    await assert.rejects(digestSources(ctx, { ...options, sources: ['nope'] }), (err: unknown) => err instanceof BuildError && err.code === 'COPY_SOURCE_MISSING');
    await assert.rejects(digestSources(ctx, { ...options, sources: ['../x'] }), (err: unknown) => err instanceof BuildError && err.code === 'COPY_SOURCE_MISSING');
  });

  it('hashes 5,000 small files, the second time from the in-memory cache (same digest, no new hash)', async function () {
    this.timeout(60_000);
    const big = path.join(tmp.dir, 'big');
    for (let d = 0; d < 25; d++) {
      const dir = path.join(big, `d${d}`);
      mkdirSync(dir, { recursive: true });
      for (let f = 0; f < 200; f++) writeFileSync(path.join(dir, `f${f}.txt`), `${d}/${f}\n`);
    }
    const source = { root: big, isContext: true };
    // What the cache does is asserted; how fast it is belongs to the benchmarks (a clock here measures the load).
    const before = contentHashCount();
    let started = Date.now();
    const first = await digestSources(source, options);
    const cold = Date.now() - started;
    assert.equal(contentHashCount() - before, 5000, 'every file\'s hash is memoized');
    started = Date.now();
    assert.equal(await digestSources(source, options), first);
    const warm = Date.now() - started;
    assert.equal(contentHashCount() - before, 5000, 'the warm pass added no hash: it read them all from the cache');
    console.log(`      5,000 files: cold ${cold} ms, warm ${warm} ms`);
  });
});
