import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import zlib from 'node:zlib';
import { storedBlocks } from './gzip-writer.js';

describe('layer/gzip-writer stored blocks', () => {
  for (const size of [0, 1, 65535, 65536, 1024 * 1024 + 7]) {
    it(`round-trips ${size} incompressible bytes through inflate`, () => {
      const data = randomBytes(size);
      assert.deepEqual(zlib.inflateRawSync(storedBlocks(data, true)), data);
    });
  }

  it('leaves the stream open when not final, so compressed blocks can follow', () => {
    const first = randomBytes(70000);
    const rest = Buffer.from('text '.repeat(1000));
    const stream = Buffer.concat([storedBlocks(first, false), zlib.deflateRawSync(rest, { level: 1 })]);
    assert.deepEqual(zlib.inflateRawSync(stream), Buffer.concat([first, rest]));
  });
});

describe('layer/gzip-writer writeFrom', () => {
  it('gives the same blob as write() when file bytes are read straight into the blocks at odd offsets', async () => {
    const { mkdtemp, open, readFile, rm, writeFile } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const path = await import('node:path');
    const { GzipBlobWriter } = await import('./gzip-writer.js');
    const dir = await mkdtemp(path.join(tmpdir(), 'gzip-writefrom-'));
    try {
      // Text and random bytes, so both deflated and stored blocks are cut across the file's edges.
      const file = Buffer.concat([Buffer.from('line of text\n'.repeat(250_000)), randomBytes(1_500_000)]);
      await writeFile(path.join(dir, 'file'), file);
      const head = randomBytes(777);
      const tail = Buffer.from('tail'.repeat(1000));
      const blob = async (name: string, feed: (writer: InstanceType<typeof GzipBlobWriter>) => Promise<void>): Promise<Buffer> => {
        const out = await open(path.join(dir, name), 'w');
        try {
          const writer = new GzipBlobWriter(out, 1);
          await feed(writer);
          const digests = await writer.finish();
          assert.equal(digests.diffId, `sha256:${(await import('node:crypto')).createHash('sha256').update(Buffer.concat([head, file, tail])).digest('hex')}`);
        } finally {
          await out.close();
        }
        return readFile(path.join(dir, name));
      };
      const viaWrite = await blob('a.gz', async (writer) => {
        await writer.write(Buffer.from(head));
        await writer.write(Buffer.from(file));
        await writer.write(Buffer.from(tail));
      });
      const viaRead = await blob('b.gz', async (writer) => {
        await writer.write(Buffer.from(head));
        const handle = await open(path.join(dir, 'file'), 'r');
        try {
          let at = 0;
          for (const piece of [1, 300_000, 2_000_000]) at += await writer.writeFrom(handle, at, Math.min(piece, file.length - at));
          assert.equal(await writer.writeFrom(handle, at, file.length), file.length - at); // past EOF: what is there
        } finally {
          await handle.close();
        }
        await writer.write(Buffer.from(tail));
      });
      assert.ok(viaRead.equals(viaWrite));
      assert.deepEqual(zlib.gunzipSync(viaRead), Buffer.concat([head, file, tail]));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
