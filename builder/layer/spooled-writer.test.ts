import { strict as assert } from 'node:assert';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { createLayer, startLayer } from './create.js';
import { GzipBlobWriter } from './gzip-writer.js';
import { PendingLayer, settleLayer } from './pending-layer.js';
import { SpooledWriter } from './spooled-writer.js';
import { listLayer } from './tree-listing.js';

const sha256 = (data: Buffer): string => `sha256:${createHash('sha256').update(data).digest('hex')}`;

describe('layer/spooled-writer: compression behind the tar', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'spooled-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  for (const maxBytes of [1, 300_000, 64 * 1024 * 1024]) {
    it(`gives the diffId at end() and a gzip blob of exactly the bytes written (queue cap ${maxBytes})`, async () => {
      const handle = await open(join(dir, 'blob'), 'w');
      const spool = new SpooledWriter(new GzipBlobWriter(handle, 1, false), maxBytes);
      const parts = [randomBytes(3 * 1024 * 1024), Buffer.from('text '.repeat(400_000)), randomBytes(10), Buffer.alloc(0)];
      for (const part of parts) await spool.write(part);
      const { diffId, blob } = spool.end();
      const input = Buffer.concat(parts);
      assert.equal(diffId, sha256(input));
      const digests = await blob;
      await handle.close();
      const file = await readFile(join(dir, 'blob'));
      assert.deepEqual(digests, { diffId, digest: sha256(file), size: file.length });
      assert.ok(gunzipSync(file).equals(input));
    });
  }

  it('fails the writer and the blob when the file cannot be written', async () => {
    await writeFile(join(dir, 'blob'), '');
    const handle = await open(join(dir, 'blob'), 'r'); // read-only: every write fails (EBADF)
    const spool = new SpooledWriter(new GzipBlobWriter(handle, 1, false), 1);
    await assert.rejects(async () => { for (let i = 0; i < 8; i++) await spool.write(randomBytes(1024 * 1024)); }, /EBADF|bad file/i);
    await assert.rejects(spool.end().blob, /EBADF|bad file/i);
    await handle.close();
  });

  it('startLayer returns before the blob is done; the upperdir may go at once; the blob equals createLayer\'s', async () => {
    const upper = join(dir, 'upper');
    await mkdir(join(upper, 'data'), { recursive: true });
    for (let i = 0; i < 24; i++) await writeFile(join(upper, 'data', `f${i}`), `line ${i}\n`.repeat(150_000));
    await writeFile(join(upper, 'random'), randomBytes(4 * 1024 * 1024));
    const expected = await createLayer(upper, join(dir, 'expected.gz'));
    const started = await startLayer(upper, join(dir, 'started.gz'));
    const state = await Promise.race([started.layer.then(() => 'done'), new Promise((resolve) => setImmediate(() => resolve('pending')))]);
    assert.equal(state, 'pending', 'the tar (~40 MB) is read long before its gzip is written');
    assert.equal(started.diffId, expected.diffId);
    await rm(upper, { recursive: true }); // what the snapshot adoption does (a rename) must not touch the blob
    assert.deepEqual(await started.layer, expected);
    assert.ok((await readFile(join(dir, 'started.gz'))).equals(await readFile(join(dir, 'expected.gz'))));
    assert.equal((await listLayer(join(dir, 'started.gz'))).diffId, expected.diffId);
  });

  it('a PendingLayer refuses its blob fields until the blob is complete, then reads as a plain layer', async () => {
    let finish: (layer: { digest: string; diffId: string; size: number; mediaType: string }) => void = () => undefined;
    const done = { digest: `sha256:${'a'.repeat(64)}`, diffId: `sha256:${'b'.repeat(64)}`, size: 7, mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip' };
    const pending = new PendingLayer(done.diffId, new Promise((resolve) => (finish = resolve)));
    assert.equal(pending.diffId, done.diffId);
    assert.throws(() => pending.digest, /still being compressed/);
    assert.throws(() => ({ ...pending }), /still being compressed/);
    assert.throws(() => JSON.stringify(pending), /still being compressed/);
    finish(done);
    assert.deepEqual(await settleLayer(pending), done);
    assert.equal(pending.digest, done.digest);
    assert.deepEqual(JSON.parse(JSON.stringify(pending)), done);
    const failed = new PendingLayer(done.diffId, Promise.reject(new Error('disk full')));
    await assert.rejects(settleLayer(failed), /disk full/);
  });
});
