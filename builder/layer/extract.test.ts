import { strict as assert } from 'node:assert';
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { lstat, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { BuildError } from '../errors.js';
import { extractLayer, extractTarStream } from './extract.js';
import { encodeHeader, END_OF_ARCHIVE, paddingFor, type TarHeader } from './tar-format.js';
import { listTree } from './tree-listing.js';

type Spec = Partial<TarHeader> & { name: string; content?: string };

/** A tar built entry by entry with our encoder, so malformed names go in exactly as written. */
function makeTar(specs: Spec[]): Buffer {
  const parts: Buffer[] = [];
  for (const spec of specs) {
    const content = Buffer.from(spec.content ?? '');
    const header: TarHeader = {
      type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 1000, linkname: '', devmajor: 0, devminor: 0,
      xattrs: new Map(), ...spec, size: spec.type === undefined || spec.type === 'file' ? content.length : 0,
    };
    parts.push(encodeHeader(header));
    if (header.type === 'file') parts.push(content, Buffer.alloc(paddingFor(content.length)));
  }
  return Buffer.concat([...parts, END_OF_ARCHIVE]);
}

describe('layer/extract', () => {
  let dir: string;
  let target: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'layer-extract-'));
    target = join(dir, 'target');
    await mkdir(target);
    await mkdir(join(dir, 'outside'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function extractSpecs(specs: Spec[], gzip = false): Promise<{ diffId: string }> {
    const tar = makeTar(specs);
    await writeFile(join(dir, 'layer'), gzip ? gzipSync(tar) : tar);
    return extractLayer(join(dir, 'layer'), target);
  }

  const escapes: [string, Spec[]][] = [
    ['a ../ path', [{ name: '../escaped', content: 'x' }]],
    ['an absolute path climbing out', [{ name: '/abs/../../escaped', content: 'x' }]],
    ['a file written through a symlink to /', [
      { name: 'a', type: 'symlink', linkname: '/' },
      { name: `a/${'PLACEHOLDER'}`, content: 'x' },
    ]],
    ['a file written through a symlink to ..', [{ name: 'up', type: 'symlink', linkname: '..' }, { name: 'up/escaped', content: 'x' }]],
    ['a whiteout through a symlink', [{ name: 'w', type: 'symlink', linkname: '../outside' }, { name: 'w/.wh.gone' }]],
    ['a hardlink to ../../etc/passwd', [{ name: 'h', type: 'link', linkname: '../../etc/passwd' }]],
    ['a hardlink to an absolute host file', [{ name: 'h', type: 'link', linkname: '/etc/passwd' }]],
    ['a hardlink through a symlink', [{ name: 's', type: 'symlink', linkname: '/etc' }, { name: 'h', type: 'link', linkname: 's/passwd' }]],
    ['a char device', [{ name: 'null', type: 'char', devmajor: 1, devminor: 3 }]],
    ['an xattr name that injects lines', [{ name: 'f', content: 'x', xattrs: new Map([['user.a\n# file: ../x', Buffer.from('1')]]) }]],
  ];
  for (const [what, specs] of escapes) {
    it(`rejects ${what} and writes nothing outside`, async () => {
      const resolved = specs.map((spec) => ({ ...spec, name: spec.name.replace('PLACEHOLDER', join(dir, 'outside', 'escaped').slice(1)) }));
      await assert.rejects(extractSpecs(resolved, true), (err: unknown) => {
        assert.ok(err instanceof BuildError, String(err));
        assert.equal(err.code, 'LAYER_INVALID');
        assert.match(err.message, /"[^"]+"/, 'the message names the entry');
        return true;
      });
      assert.deepEqual(await readdir(join(dir, 'outside')), []);
      assert.deepEqual((await readdir(dir)).sort(), ['layer', 'outside', 'target']);
      assert.equal(existsSync('/escaped'), false);
    });
  }

  it('turns OCI whiteouts into overlay whiteouts and restores metadata', async () => {
    const { diffId } = await extractSpecs([
      { name: 'd/', type: 'directory', mode: 0o750, uid: 5, gid: 6, mtime: 2000 },
      { name: 'd/.wh..wh..opq' },
      { name: 'd/kept', content: 'k', mode: 0o4711, uid: 9, gid: 9, xattrs: new Map([['security.capability', Buffer.from('0100000200200000000000000000000000000000', 'hex')]]) },
      { name: '.wh.gone' },
      { name: 'fifo', type: 'fifo', mode: 0o600 },
      { name: 'link', type: 'link', linkname: 'd/kept' },
      { name: 'sym', type: 'symlink', linkname: 'd/kept', uid: 3, gid: 4 },
      { name: 'replaced', content: 'old' },
      { name: 'replaced/', type: 'directory' },
    ], true);
    assert.match(diffId, /^sha256:[0-9a-f]{64}$/);
    const tree = new Map((await listTree(target, { dirMtimes: true })).map((line) => [line.split(' ')[0], line]));
    const cap = '[security.capability=0100000200200000000000000000000000000000]';
    assert.equal(tree.get('d'), 'd dir 750 5:6 0 2000  [trusted.overlay.opaque=79]');
    assert.equal(tree.get('d/kept'), `d/kept file 4711 9:9 1 1000 8254c329a92850f6 link=d/kept ${cap}`);
    assert.equal(tree.get('link'), `link file 4711 9:9 1 1000 8254c329a92850f6 link=d/kept ${cap}`);
    assert.match(tree.get('gone')!, /^gone char \d+ 0:0 0 \d+ 0 \[\]$/);
    assert.equal(tree.get('fifo'), 'fifo fifo 600 0:0 0 1000  []');
    assert.equal(tree.get('sym'), 'sym symlink 777 3:4 0 1000 d/kept []');
    assert.equal(tree.get('replaced'), 'replaced dir 644 0:0 0 1000  []');
    assert.equal(tree.size, 7);
  });

  it('reads archives made by GNU tar (pax, long names, hardlinks, xattrs) and matches their tree', async () => {
    const src = join(dir, 'src');
    const long = 'x'.repeat(150);
    await mkdir(join(src, long), { recursive: true });
    await writeFile(join(src, long, 'f'), 'long');
    await writeFile(join(src, 'a'), 'a');
    execFileSync('ln', [join(src, 'a'), join(src, 'b')]);
    execFileSync('ln', ['-s', 'a', join(src, 'c')]);
    execFileSync('setfattr', ['-n', 'user.k', '-v', 'v', join(src, 'a')]);
    execFileSync('tar', ['--format=pax', '--xattrs', '--xattrs-include=*', '-cf', join(dir, 'layer'), '-C', src, '.']);
    const { diffId } = await extractLayer(join(dir, 'layer'), target);
    const sha = execFileSync('sha256sum', [join(dir, 'layer')], { encoding: 'utf8' }).split(' ')[0];
    assert.equal(diffId, `sha256:${sha}`);
    assert.deepEqual(await listTree(target), await listTree(src));
  });

  it('extracts zstd layers (the zstd program) and rejects broken ones', async function () {
    if (spawnSync('zstd', ['--version']).status !== 0) {
      console.log('      skipped: the zstd program is not installed (apt-get install zstd)');
      return this.skip();
    }
    const tar = makeTar([{ name: 'z/f', content: 'zstd body' }]);
    await writeFile(join(dir, 'layer'), execFileSync('zstd', ['-q', '-c', '-3'], { input: tar }));
    const { diffId } = await extractLayer(join(dir, 'layer'), target);
    assert.equal(diffId, `sha256:${createHash('sha256').update(tar).digest('hex')}`);
    assert.equal(await readFile(join(target, 'z/f'), 'utf8'), 'zstd body');
    await writeFile(join(dir, 'broken'), Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0, 0]));
    await assert.rejects(extractLayer(join(dir, 'broken'), join(dir, 'outside')), /zstd|truncated|unexpected end/);
  });

  it('says how to install zstd when a zstd layer meets a machine without it', async function () {
    if (spawnSync('zstd', ['--version']).status !== 0) {
      console.log('      skipped: the zstd program is not installed (apt-get install zstd)');
      return this.skip();
    }
    await writeFile(join(dir, 'layer'), execFileSync('zstd', ['-q', '-c'], { input: makeTar([{ name: 'f', content: 'x' }]) }));
    const script = `const { extractLayer } = await import(${JSON.stringify(new URL('./extract.js', import.meta.url).href)});
      try { await extractLayer(${JSON.stringify(join(dir, 'layer'))}, ${JSON.stringify(target)}); console.log('extracted'); }
      catch (err) { console.log(err.code, err.message); }`;
    const result = spawnSync(process.execPath, ['--input-type=module', '-e', script], { env: { ...process.env, BUILDER_ZSTD: join(dir, 'no-zstd') }, encoding: 'utf8' });
    assert.equal(result.status, 0, result.stderr);
    assert.match(result.stdout, /^NOT_SUPPORTED zstd layers need the zstd program, which is not installed \(apt-get install zstd\)/);
  });

  it('rejects truncated tars and non-empty targets', async () => {
    await writeFile(join(dir, 'layer'), makeTar([{ name: 'f', content: 'x'.repeat(2000) }]).subarray(0, 1024));
    await assert.rejects(extractLayer(join(dir, 'layer'), join(dir, 'outside')), /truncated|unexpected end/);
    await writeFile(join(target, 'x'), '');
    await assert.rejects(extractLayer(join(dir, 'layer'), target), /not empty/);
  });

  it('extractTarStream without whiteouts merges into a directory and applies chown', async () => {
    await writeFile(join(target, 'existing'), 'keep');
    await writeFile(join(dir, 'archive.tar'), makeTar([{ name: './.wh.plain', content: 'p', uid: 1 }, { name: 'sub/f', content: 'f', uid: 1 }]));
    await extractTarStream(createReadStream(join(dir, 'archive.tar')), target, { whiteouts: 'none', chown: { uid: 42, gid: 43 } });
    assert.equal(await readFile(join(target, 'existing'), 'utf8'), 'keep');
    assert.equal(await readFile(join(target, '.wh.plain'), 'utf8'), 'p');
    const stat = await lstat(join(target, 'sub/f'));
    assert.deepEqual([stat.uid, stat.gid], [42, 43]);
  });
});
