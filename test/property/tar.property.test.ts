/**
 * Property tests of the tar reader and the confined extractor: any archive (built from hostile entries, then
 * possibly corrupted byte by byte) extracts or fails with a BuildError, never writes beside the target, ends fast.
 */
import { strict as assert } from 'node:assert';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import fc from 'fast-check';
import tar from 'tar-stream';
import { BuildError } from '../../builder/errors.js';
import { extractTarStream } from '../../builder/layer/extract-tar.js';
import { treeFingerprint } from '../hostile/escape-check.js';
import { cpuMark, cpuMsSince } from '../helpers/cpu-time.js';

interface EntrySpec { name: string; type: 'file' | 'directory' | 'symlink' | 'link'; link: string; size: number }

async function pack(entries: EntrySpec[]): Promise<Buffer> {
  const packer = tar.pack();
  const chunks: Buffer[] = [];
  packer.on('data', (chunk: unknown) => { chunks.push(chunk as Buffer); });
  const ended = new Promise<void>((resolve, reject) => { packer.on('end', () => resolve()); packer.on('error', reject); });
  for (const entry of entries) {
    const header = { name: entry.name, type: entry.type, linkname: entry.type === 'symlink' || entry.type === 'link' ? entry.link : undefined, mode: 0o644 };
    await new Promise<void>((resolve) => packer.entry(header, entry.type === 'file' ? Buffer.alloc(entry.size, 0x61) : '', () => resolve()));
  }
  packer.finalize();
  await ended;
  return Buffer.concat(chunks);
}

describe('property: tar reader and confined extraction', function () {
  this.timeout(120_000);
  let base = '';
  let bait = '';
  let count = 0;

  before(function () {
    base = mkdtempSync(path.join(os.tmpdir(), 'property-tar-'));
    bait = path.join(base, 'bait');
    mkdirSync(bait);
    writeFileSync(path.join(bait, 'file'), 'untouched');
  });
  after(function () {
    console.log(`      archives tried: ${count}`);
    rmSync(base, { recursive: true, force: true });
  });

  it('any archive extracts inside its target or fails with a BuildError', async function () {
    const name = fc.array(fc.constantFrom('a', 'b', '..', '.', '', 'bait', 'file', '/', 'x'), { minLength: 1, maxLength: 5 }).map((p) => p.join('/'));
    const link = fc.constantFrom('a', '../bait', '../../bait/file', '/', '..', 'a/../..', 'b', '../bait/file', 'x/y');
    const entry = fc.record({ name, type: fc.constantFrom('file', 'directory', 'symlink', 'link'), link, size: fc.integer({ min: 0, max: 1200 }) }) as fc.Arbitrary<EntrySpec>;
    const corruption = fc.array(fc.record({ at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }), { maxLength: 4 });
    const before = treeFingerprint(bait);
    let run = 0;
    await fc.assert(fc.asyncProperty(fc.array(entry, { maxLength: 8 }), corruption, async (entries, flips) => {
      count++;
      const archive = await pack(entries);
      for (const flip of flips) if (archive.length > 0) archive[flip.at % archive.length] = flip.value;
      const target = path.join(base, `t${run++}`);
      mkdirSync(target);
      const started = cpuMark();
      try {
        await extractTarStream(Readable.from([archive]), target, { whiteouts: 'none' });
      } catch (err) {
        if (!(err instanceof BuildError) || err.code === 'INTERNAL') throw new Error(`not a user error: ${String(err)}`);
      }
      assert.ok(cpuMsSince(started) < 2000, `extraction cost ${cpuMsSince(started)} ms of CPU`);
      assert.equal(treeFingerprint(bait), before, 'something was written outside the target');
      assert.deepEqual(readdirSync(base).filter((n) => n !== 'bait' && !/^t\d+$/.test(n)), [], 'a file appeared beside the target');
      rmSync(target, { recursive: true, force: true });
    }), { numRuns: 400, seed: 1414 });
  });

  it('random bytes are refused as a BuildError without hanging', async function () {
    await fc.assert(fc.asyncProperty(fc.uint8Array({ maxLength: 3000 }), async (bytes) => {
      count++;
      const target = mkdtempSync(path.join(base, 't-'));
      try {
        await extractTarStream(Readable.from([Buffer.from(bytes)]), target, { whiteouts: 'overlay' });
      } catch (err) {
        if (!(err instanceof BuildError) || err.code === 'INTERNAL') throw new Error(`not a user error: ${String(err)}`);
      } finally {
        rmSync(target, { recursive: true, force: true });
      }
    }), { numRuns: 400, seed: 1414 });
  });
});
