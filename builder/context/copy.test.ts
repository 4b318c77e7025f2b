import { strict as assert } from 'node:assert';
import { existsSync, lstatSync, mkdirSync, readFileSync, readlinkSync, readdirSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { BuildError } from '../errors.js';
import { copyInto, type CopyOptions, type CopySource } from './copy.js';
import { loadIgnore } from './ignore.js';
import { makeArchives, makeContext, tempDir, writeTree } from './test-fixtures.js';

const base: CopyOptions = { sources: [], dest: '/', add: false, exclude: [], parents: false };

describe('context/copy copyInto', () => {
  let tmp: ReturnType<typeof tempDir>;
  let ctx: CopySource;
  let dest: string;
  beforeEach(() => {
    tmp = tempDir('copy');
    const root = path.join(tmp.dir, 'ctx', 'inner');
    mkdirSync(root, { recursive: true });
    makeContext(root);
    ctx = { root, isContext: true };
    dest = path.join(tmp.dir, 'rootfs');
    mkdirSync(dest);
  });
  afterEach(() => tmp.cleanup());

  const copy = (options: Partial<CopyOptions>, source: CopySource = ctx) => copyInto(source, dest, { ...base, ...options });
  const at = (p: string) => path.join(dest, p);
  const owner = (p: string) => `${lstatSync(at(p)).uid}:${lstatSync(at(p)).gid}`;
  const mode = (p: string) => (lstatSync(at(p)).mode & 0o7777).toString(8);
  const rejects = async (options: Partial<CopyOptions>, code: string, message?: string) => {
    await assert.rejects(copy(options), (err: unknown) => {
      assert.ok(err instanceof BuildError, String(err));
      assert.equal(err.code, code);
      if (message) assert.equal(err.message, message);
      return true;
    });
  };

  it('file → file: dest is the new name, context owner becomes 0:0', async () => {
    await copy({ sources: ['a.txt'], dest: '/x' });
    assert.equal(readFileSync(at('x'), 'utf8'), 'a\n');
    assert.equal(owner('x'), '0:0');
  });

  it('dest `.`-terminated is a directory', async () => {
    await copy({ sources: ['a.txt'], dest: '/dot/.' });
    assert.ok(statSync(at('dot/a.txt')).isFile());
  });

  it('file → dir/: created 0755, file inside', async () => {
    await copy({ sources: ['/a.txt'], dest: '/d/e/' });
    assert.equal(readFileSync(at('d/e/a.txt'), 'utf8'), 'a\n');
    assert.equal(mode('d'), '755');
    assert.equal(mode('d/e'), '755');
  });

  it('dir → dir copies contents; symlinks stay links; setuid and mtimes kept', async () => {
    await copy({ sources: ['dir'], dest: '/t' });
    assert.deepEqual(readdirSync(at('t')).sort(), ['b.txt', 'link', 'notes.md', 'sub']);
    assert.equal(readlinkSync(at('t/link')), 'b.txt');
    assert.equal(mode('t/b.txt'), '4755');
    assert.equal(statSync(at('t/b.txt')).mtimeMs, 1_000_000_000_000);
    assert.equal(owner('t/sub/c.txt'), '0:0');
  });

  it('a source symlink to a dir is followed inside the root', async () => {
    await copy({ sources: ['dirlink'], dest: '/t3/' });
    assert.ok(statSync(at('t3/sub/c.txt')).isFile());
  });

  it('several sources go into a dir dest ending in /, or one after the other onto a file dest (BuildKit)', async () => {
    await copy({ sources: ['a.txt', 'b.md'], dest: '/onto' });
    assert.equal(readFileSync(at('onto'), 'utf8'), readFileSync(path.join(ctx.root, 'b.md'), 'utf8'));
    await copy({ sources: ['a.txt', 'b.md'], dest: '/m/' });
    assert.deepEqual(readdirSync(at('m')).sort(), ['a.txt', 'b.md']);
  });

  it('wildcards: Go filepath.Match, a matched dir copies its contents, no match copies nothing (as BuildKit)', async () => {
    await copy({ sources: ['*.txt', 'd?r/s*'], dest: '/w/' });
    assert.deepEqual(readdirSync(at('w')).sort(), ['a.txt', 'c.txt']);
    await copy({ sources: ['*.nothing'], dest: '/n/' });
    assert.equal(existsSync(at('n')), false, 'an empty wildcard match creates no destination');
    // Several matches onto a dest without a slash: one after the other onto that path (BuildKit), the last wins.
    await copy({ sources: ['[ab].*'], dest: '/n' });
    assert.ok(statSync(at('n')).isFile());
  });

  it('an existing dest dir without slash receives the file; symlinked dest dirs are followed inside the root', async () => {
    mkdirSync(at('exist'));
    mkdirSync(at('real'));
    symlinkSync('/real', at('lnk'));
    symlinkSync('../../../../../tmp', at('escape'));
    await copy({ sources: ['a.txt'], dest: '/exist' });
    await copy({ sources: ['a.txt'], dest: '/lnk' });
    await copy({ sources: ['a.txt'], dest: '/lnk/sub/' });
    await copy({ sources: ['a.txt'], dest: '/escape/' });
    assert.ok(statSync(at('exist/a.txt')).isFile());
    assert.ok(statSync(at('real/a.txt')).isFile());
    assert.ok(statSync(at('real/sub/a.txt')).isFile());
    assert.ok(statSync(at('tmp/a.txt')).isFile(), 'a link climbing out lands inside the rootfs');
  });

  it('--chmod applies to files and dirs, keeps setuid; links untouched', async () => {
    await copy({ sources: ['dir'], dest: '/t8/', chmod: 0o600 });
    assert.equal(mode('t8'), '755');
    assert.equal(mode('t8/sub'), '600');
    assert.equal(mode('t8/b.txt'), '4600');
    assert.ok(lstatSync(at('t8/link')).isSymbolicLink());
  });

  it('--chown applies to copied entries and created parents, not existing ones', async () => {
    await copy({ sources: ['dir'], dest: '/t7/x/', chown: { uid: 9, gid: 9 } });
    assert.equal(owner('t7'), '9:9');
    assert.equal(owner('t7/x'), '9:9');
    assert.equal(owner('t7/x/link'), '9:9');
    assert.equal(owner('t7/x/b.txt'), '9:9');
    assert.equal(mode('t7/x/b.txt'), '4755', 'chown must not clear setuid');
    assert.equal(owner('.'), '0:0');
  });

  it('COPY --from a stage keeps the source owner', async () => {
    await copy({ sources: ['/dir'], dest: '/s/' }, { root: ctx.root, isContext: false });
    assert.equal(owner('s/b.txt'), '0:0');
    await copy({ sources: ['/a.txt'], dest: '/s/' }, { root: ctx.root, isContext: false });
    assert.equal(owner('s/a.txt'), '1234:5678');
    await rejects({ sources: ['nope'], dest: '/s/' }, 'COPY_SOURCE_MISSING');
    await assert.rejects(copy({ sources: ['nope'], dest: '/s/' }, { root: ctx.root, isContext: false }), /^COPY failed: "nope" not found$/);
  });

  it('--parents keeps relative parents, `/./` pivots', async () => {
    await copy({ sources: ['dir/sub/c.txt', 'a.txt', 'dir/./sub'], dest: '/p/', parents: true });
    assert.ok(statSync(at('p/dir/sub/c.txt')).isFile());
    assert.ok(statSync(at('p/a.txt')).isFile());
    assert.ok(statSync(at('p/sub/c.txt')).isFile());
  });

  it('--exclude drops matching entries below a source and wildcard matches', async () => {
    await copy({ sources: ['dir', '*.md', '*.txt'], dest: '/e/', exclude: ['*.md', 'sub'] });
    assert.deepEqual(readdirSync(at('e')).sort(), ['a.txt', 'b.txt', 'link']);
  });

  it('.dockerignore with ! exceptions; an ignored path named explicitly is missing', async () => {
    writeFileSync(path.join(ctx.root, '.dockerignore'), '# comment\ndir\n!dir/sub/c.txt\n*.md\n');
    const source = { ...ctx, ignore: await loadIgnore(ctx.root) };
    await copy({ sources: ['.'], dest: '/i/' }, source);
    assert.ok(statSync(at('i/dir/sub/c.txt')).isFile());
    assert.ok(!readdirSync(at('i/dir')).includes('b.txt'));
    assert.ok(!readdirSync(at('i')).includes('b.md'));
    await assert.rejects(copy({ sources: ['b.md'], dest: '/i/' }, source), /COPY failed: "b.md" not found in build context/);
    await assert.rejects(copy({ sources: ['dir/b.txt'], dest: '/i/' }, source), /"dir\/b.txt" not found in build context/);
  });

  it('ADD extracts plain/gzip/bzip2/xz tars by content; other files are copied as is', async () => {
    makeArchives(ctx.root);
    await copy({ sources: ['plain.tar'], dest: '/p', add: true });
    await copy({ sources: ['a.tgz', 'a.tbz', 'a.txz'], dest: '/g/', add: true });
    await copy({ sources: ['fake.tar.gz', 'only.gz', 'a.txt'], dest: '/f/', add: true });
    for (const dir of ['p', 'g']) {
      assert.equal(readFileSync(at(`${dir}/d/z`), 'utf8'), 'z\n');
      assert.equal(owner(`${dir}/f`), '1000:1001');
      assert.equal(owner(dir), '0:0');
    }
    assert.deepEqual(readdirSync(at('f')).sort(), ['a.txt', 'fake.tar.gz', 'only.gz']);
    assert.equal(readFileSync(at('f/fake.tar.gz'), 'utf8'), 'not an archive\n');
    // COPY never extracts.
    await copy({ sources: ['a.tgz'], dest: '/c/' });
    assert.ok(statSync(at('c/a.tgz')).isFile());
  });

  it('ADD refuses archive members that climb out of dest', async () => {
    const evil = path.join(tmp.dir, 'evil');
    writeTree(evil, { 'x': 'x\n' });
    const { execFileSync } = await import('node:child_process');
    execFileSync('tar', ['-cf', path.join(ctx.root, 'evil.tar'), '-C', evil, '--transform', 's,^x,../../x,', 'x', '-P']);
    await rejects({ sources: ['evil.tar'], dest: '/ev/', add: true }, 'ARCHIVE_INVALID');
  });

  it('heredoc sources are files with their content, 0644', async () => {
    await copy({ sources: ['EOF'], dest: '/h/run.sh', inline: [{ name: 'EOF', content: 'echo hi\n' }] });
    assert.equal(readFileSync(at('h/run.sh'), 'utf8'), 'echo hi\n');
    assert.equal(mode('h/run.sh'), '644');
  });

  it('escapes and missing sources are errors', async () => {
    await rejects({ sources: ['app/missing.txt'], dest: '/x' }, 'COPY_SOURCE_MISSING', 'COPY failed: "app/missing.txt" not found in build context');
    // Above the context is the context itself (BuildKit): `../x` is `x`, so it is missing, not refused.
    await rejects({ sources: ['../x'], dest: '/x' }, 'COPY_SOURCE_MISSING', 'COPY failed: "x" not found in build context');
    await rejects({ sources: ['dir/../../x'], dest: '/x' }, 'COPY_SOURCE_MISSING');
    await rejects({ sources: ['pw'], dest: '/x' }, 'COPY_SOURCE_MISSING');
    await rejects({ sources: ['out'], dest: '/x' }, 'COPY_SOURCE_MISSING');
    await rejects({ sources: ['missing'], dest: '/x', add: true }, 'COPY_SOURCE_MISSING', 'ADD failed: "missing" not found in build context');
  });
});
