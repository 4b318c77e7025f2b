import { strict as assert } from 'node:assert';
import { createHash, randomBytes } from 'node:crypto';
import { readdirSync, readlinkSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { BuildError } from '../errors.js';
import { FileRange } from './file-body.js';
import { exchange } from './transport.js';
import { serveLoopback as serve } from '../../test/helpers/http-probe.js';


/** True while this process holds `file` open. */
function holdsOpen(file: string): boolean {
  return readdirSync('/proc/self/fd').some((fd) => {
    try {
      return readlinkSync(`/proc/self/fd/${fd}`) === file;
    } catch {
      return false;
    }
  });
}

async function waitClosed(file: string): Promise<void> {
  for (let i = 0; i < 100 && holdsOpen(file); i++) await new Promise((resolve) => setTimeout(resolve, 20));
  assert.equal(holdsOpen(file), false, `${file} is still open`);
}

describe('a file range as a request body (two reused buffers)', function () {
  let dir: string;
  let file: string;
  let bytes: Buffer;

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'file-body-'));
    file = path.join(dir, 'blob');
    // Several chunks and a partial one, so the two buffers take turns and the last read is short.
    bytes = randomBytes(5 * 1024 * 1024 + 123_457);
    await writeFile(file, bytes);
  });
  after(async () => { await rm(dir, { recursive: true, force: true }); });

  it('sends exactly the bytes of the range, reporting offsets up to its end, and closes the file', async () => {
    const start = 300_001;
    const end = bytes.length - 77;
    const received: Buffer[] = [];
    const server = await serve((req, res) => {
      req.on('data', (chunk: Buffer) => received.push(chunk));
      req.on('end', () => res.writeHead(201).end());
    });
    const offsets: number[] = [];
    try {
      const response = await exchange({
        method: 'PUT',
        url: `${server.origin}/blob`,
        headers: { 'content-length': String(end - start) },
        body: () => new FileRange(file, start, end, (offset) => offsets.push(offset)),
      });
      assert.equal(response.status, 201);
    } finally {
      await server.close();
    }
    const got = Buffer.concat(received);
    assert.equal(got.length, end - start);
    assert.equal(createHash('sha256').update(got).digest('hex'), createHash('sha256').update(bytes.subarray(start, end)).digest('hex'));
    assert.ok(offsets.length >= 5, `one report per chunk: ${offsets.join(', ')}`);
    assert.deepEqual(offsets, [...offsets].sort((a, b) => a - b));
    assert.equal(offsets.at(-1), end);
    await waitClosed(file);
  });

  it('fails with STORE_CORRUPT when the file is shorter than the range, and closes it', async () => {
    const server = await serve((req) => { req.resume(); });
    try {
      await assert.rejects(
        exchange({ method: 'PUT', url: `${server.origin}/blob`, headers: { 'content-length': String(bytes.length + 10) }, body: () => new FileRange(file, 0, bytes.length + 10) }),
        (err: unknown) => err instanceof BuildError && err.code === 'STORE_CORRUPT' && /ends at byte/.test(err.message),
      );
    } finally {
      await server.close();
    }
    await waitClosed(file);
  });

  it('stops and closes the file when the server hangs up in the middle of the body', async () => {
    const server = await serve((req) => {
      let seen = 0;
      req.on('data', (chunk: Buffer) => {
        seen += chunk.length;
        if (seen > 1024 * 1024) req.socket.destroy();
      });
    });
    try {
      await assert.rejects(exchange({ method: 'PUT', url: `${server.origin}/blob`, headers: { 'content-length': String(bytes.length) }, body: () => new FileRange(file, 0, bytes.length) }));
    } finally {
      await server.close();
    }
    await waitClosed(file);
  });
});
