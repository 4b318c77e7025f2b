/**
 * Hostile tar archives, each with the error it must get from the confined extractor (layers and uploaded
 * contexts): nothing written beside the target, whatever the archive says.
 */
import { strict as assert } from 'node:assert';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import tar from 'tar-stream';
import { BuildError } from '../../builder/errors.js';
import { extractTarStream } from '../../builder/layer/extract-tar.js';
import { treeFingerprint } from './escape-check.js';

type Header = Parameters<ReturnType<typeof tar.pack>['entry']>[0];

async function archive(entries: [Header, string?][]): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  pack.on('data', (chunk: unknown) => { chunks.push(chunk as Buffer); });
  const ended = new Promise<void>((resolve) => pack.on('end', () => resolve()));
  for (const [header, body] of entries) await new Promise<void>((resolve) => pack.entry({ mode: 0o644, ...header }, body ?? '', () => resolve()));
  pack.finalize();
  await ended;
  return Buffer.concat(chunks);
}

describe('hostile tar archives (confined extraction)', function () {
  let base = '';
  let bait = '';
  let cases = 0;
  before(function () {
    base = mkdtempSync(path.join(os.tmpdir(), 'hostile-tars-'));
    bait = path.join(base, 'bait');
    mkdirSync(bait);
    writeFileSync(path.join(bait, 'file'), 'untouched');
  });
  after(function () {
    console.log(`      hostile archives tried: ${cases}`);
    rmSync(base, { recursive: true, force: true });
  });

  const corpus: [string, () => Promise<Buffer>, RegExp][] = [
    ['a ../ entry', () => archive([[{ name: '../bait/file' }, 'x']]), /points outside the extraction root/],
    ['a deep ../ entry', () => archive([[{ name: 'a/../../bait/file' }, 'x']]), /points outside the extraction root/],
    ['a PAX path climbing out', () => archive([[{ name: 'ok', pax: { path: '../../bait/file' } }, 'x']]), /points outside the extraction root/],
    ['a GNU long name climbing out', () => archive([[{ name: `${'d/'.repeat(60)}${'../'.repeat(62)}bait/file` }, 'x']]), /points outside the extraction root/],
    ['a file through an absolute symlink', () => archive([[{ name: 'l', type: 'symlink', linkname: bait }], [{ name: 'l/file' }, 'x']]), /through the symlink "l"/],
    ['a file through a relative symlink', () => archive([[{ name: 'l', type: 'symlink', linkname: '../bait' }], [{ name: 'l/file' }, 'x']]), /through the symlink "l"/],
    ['a symlink to a dir, then a dir of the same name', () => archive([[{ name: 'l', type: 'symlink', linkname: '/' }], [{ name: 'l/etc/', type: 'directory' }]]), /through the symlink "l"/],
    ['a hardlink out of the root', () => archive([[{ name: 'h', type: 'link', linkname: '../bait/file' }]]), /outside|not found|points/],
    // An absolute link target is read inside the root, where it does not exist.
    ['a hardlink to an absolute host path', () => archive([[{ name: 'h', type: 'link', linkname: path.join(bait, 'file') }]]), /no such file or directory/],
    ['a hardlink through a symlink', () => archive([[{ name: 'l', type: 'symlink', linkname: bait }], [{ name: 'h', type: 'link', linkname: 'l/file' }]]), /symlink|outside|no such file|no longer a directory/],
    ['a truncated body', async () => (await archive([[{ name: 'f' }, 'x'.repeat(5000)]])).subarray(0, 2048), /unexpected end|truncated|short/i],
    ['a corrupted checksum', async () => { const t = await archive([[{ name: 'f' }, 'x']]); t[148] = 0x37; t[149] = 0x37; return t; }, /checksum|invalid/i],
  ];

  for (const [what, make, message] of corpus) {
    it(`${what} is refused`, async function () {
      cases++;
      const target = mkdtempSync(path.join(base, 't-'));
      const before = treeFingerprint(bait);
      let error: unknown;
      try {
        await extractTarStream(Readable.from([await make()]), target, { whiteouts: 'none' });
      } catch (err) {
        error = err;
      }
      assert.ok(error instanceof BuildError, `expected a BuildError, got ${String(error)}`);
      assert.notEqual(error.code, 'INTERNAL');
      assert.match(error.message, message);
      assert.equal(treeFingerprint(bait), before, 'the archive changed a file outside its target');
      assert.deepEqual(readdirSync(base).filter((n) => n !== 'bait' && !n.startsWith('t-')), []);
    });
  }
});
