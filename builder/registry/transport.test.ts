import { strict as assert } from 'node:assert';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Store } from '../store/store.js';
import { Authorizer } from './auth.js';
import { downloadBlob } from './blob-download.js';
import { RegistryClient } from './client.js';
import { exchange } from './transport.js';
import { serveLoopback as serve } from '../../test/helpers/http-probe.js';


describe('registry transport (node:http)', function () {
  it('follows redirects, keeping authorization on the same origin and dropping it on another', async function () {
    const seen: Array<{ path: string; authorization?: string }> = [];
    const other = await serve((req, res) => {
      seen.push({ path: req.url!, authorization: req.headers.authorization });
      res.end('from the other origin');
    });
    const first = await serve((req, res) => {
      seen.push({ path: req.url!, authorization: req.headers.authorization });
      if (req.url === '/start') res.writeHead(307, { location: '/same' }).end();
      else res.writeHead(302, { location: `${other.origin}/blob` }).end();
    });
    try {
      const response = await exchange({ method: 'GET', url: `${first.origin}/start`, headers: { authorization: 'Bearer secret' } });
      assert.equal(response.status, 200);
      assert.equal(await response.text(), 'from the other origin');
      assert.deepEqual(seen, [
        { path: '/start', authorization: 'Bearer secret' },
        { path: '/same', authorization: 'Bearer secret' },
        { path: '/blob', authorization: undefined },
      ]);
    } finally {
      await first.close();
      await other.close();
    }
  });

  it('a download cut off mid-body resumes with a Range from the bytes already on disk', async function () {
    const blob = randomBytes(3 * 1024 * 1024);
    const digest = `sha256:${createHash('sha256').update(blob).digest('hex')}`;
    const ranges: string[] = [];
    const registry = await serve((req, res) => {
      const range = req.headers.range;
      ranges.push(range ?? 'none');
      if (!range) {
        // Headers promise the whole blob; a third of it arrives, then the connection drops.
        res.writeHead(200, { 'content-length': String(blob.length) });
        res.write(blob.subarray(0, blob.length / 3), () => setTimeout(() => res.socket?.destroy(), 50));
        return;
      }
      const start = Number(/^bytes=(\d+)-$/.exec(range)![1]);
      res.writeHead(206, { 'content-length': String(blob.length - start), 'content-range': `bytes ${start}-${blob.length - 1}/${blob.length}` });
      res.end(blob.subarray(start));
    });
    const root = await mkdtemp(path.join(os.tmpdir(), 'transport-test-'));
    try {
      const store = await Store.open(root);
      const authority = registry.origin.slice('http://'.length);
      const client = new RegistryClient({ registry: authority, baseUrl: registry.origin, authority, mirror: false }, 'test/blob', new Authorizer(async () => undefined), 'pull');
      const received = await downloadBlob(client, store, { mediaType: 'application/octet-stream', digest, size: blob.length }, 'downloading the test blob');
      assert.equal(received, blob.length);
      assert.ok((await readFile(store.blobPath(digest))).equals(blob), 'the stored blob is the served one');
      assert.equal(ranges[0], 'none');
      const resumedAt = Number(/^bytes=(\d+)-$/.exec(ranges[1] ?? '')?.[1] ?? 'NaN');
      assert.ok(resumedAt > 0 && resumedAt <= blob.length / 3, `resumed from a byte already received (${ranges.join(', ')})`);
    } finally {
      await registry.close();
      await rm(root, { recursive: true, force: true });
    }
  });
});
