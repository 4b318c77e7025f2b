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
