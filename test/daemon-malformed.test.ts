/**
 * Bad requests to `builder daemon` get docker's status codes and leave nothing behind: bad JSON, wrong field
 * types, a context tar escaping with `../`, a 2 GB body, a connection that never sends its body, and a client
 * that goes away mid-build (which cancels the build).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import tar from 'tar-stream';
import { daemonSkipReason, startTestDaemon, type TestDaemon } from './helpers/daemon-server.js';

async function tarOf(entries: { name: string; body: string }[]): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  pack.on("data", (c: unknown) => chunks.push(c as Buffer));
  const done = new Promise<void>((resolve) => pack.on('end', () => resolve()));
  for (const e of entries) pack.entry({ name: e.name }, e.body);
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

/** Sends raw bytes and resolves with the first chunk of the answer (or '' when the server closes silently). */
function rawExchange(socket: string, bytes: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const conn = net.createConnection(socket, () => conn.write(bytes));
    let answer = '';
    conn.on('data', (c: Buffer) => {
      answer += c.toString();
      if (answer.includes('\r\n\r\n')) { conn.destroy(); resolve(answer); }
    });
    conn.on('error', reject);
    conn.on('close', () => resolve(answer));
  });
}

const sleepers = (marker: string): number => {
  try {
    return execFileSync('pgrep', ['-f', marker], { encoding: 'utf8' }).trim().split('\n').filter(Boolean).length;
  } catch {
    return 0;
  }
};

describe('builder daemon refuses malformed requests', function () {
  this.timeout(120_000);
  let daemon: TestDaemon;
  const leftovers = async (): Promise<string[]> =>
    (await readdir(path.join(daemon.root, 'tmp'))).filter((name) => name.startsWith('daemon-'));

  before(async function () {
    const reason = daemonSkipReason();
    if (reason) {
      console.log(`    skipped: ${reason}`);
      return this.skip();
    }
    daemon = await startTestDaemon('daemon-bad', ['--log-level', 'info']);
  });
  after(async () => {
    if (daemon) assert.equal(await daemon.stop(), 0, `daemon should exit 0 on SIGTERM even with a silent connection open: ${daemon.log()}`);
  });

  it('answers _ping (GET and HEAD) with Api-Version, and versioned paths', async () => {
    const head = await daemon.request('HEAD', '/_ping');
    assert.equal(head.status, 200);
    assert.equal(head.headers['api-version'], '1.47');
    assert.equal((await daemon.request('GET', '/v1.41/_ping')).body, 'OK');
    const tooNew = await daemon.request('GET', '/v1.99/version');
    assert.equal(tooNew.status, 400);
    assert.match(JSON.parse(tooNew.body).message, /client version 1.99 is too new. Maximum supported API version is 1.47/);
    const unknown = await daemon.request('GET', '/v1.47/nothing/here');
    assert.equal(unknown.status, 404);
    assert.equal(unknown.headers['content-type'], 'application/json');
  });

  it('gives 400 for bad JSON and wrong field types', async () => {
    const badJson = await daemon.request('POST', '/images/create?fromImage=busybox', { body: '{"oops', headers: { 'Content-Type': 'application/json' } });
    assert.equal(badJson.status, 400);
    assert.match(JSON.parse(badJson.body).message, /invalid JSON/);
    const context = await tarOf([{ name: 'Dockerfile', body: 'FROM busybox\n' }]);
    const wrongType = await daemon.request('POST', `/build?buildargs=${encodeURIComponent('{"A":1}')}`, { body: context, headers: { 'Content-Type': 'application/x-tar' } });
    assert.equal(wrongType.status, 400);
    assert.match(JSON.parse(wrongType.body).message, /buildargs: value of "A" must be a string/);
    const badFilter = await daemon.request('GET', `/images/json?filters=${encodeURIComponent('{"dangling":[true]}')}`);
    assert.equal(badFilter.status, 400);
    const badKey = await daemon.request('GET', `/images/json?filters=${encodeURIComponent('{"colour":["red"]}')}`);
    assert.equal(JSON.parse(badKey.body).message, "invalid filter 'colour'");
    const badBool = await daemon.request('DELETE', '/images/busybox?force=maybe');
    assert.equal(badBool.status, 400);
    assert.equal((await daemon.request('GET', '/images/busybox/json')).status, 200, 'busybox is still there');
  });

  it('rejects a context tar with ../ entries and writes nothing outside', async () => {
    const marker = `escaped-${process.pid}`;
    const context = await tarOf([{ name: 'Dockerfile', body: 'FROM busybox\n' }, { name: `../${marker}`, body: 'x' }, { name: `../../${marker}`, body: 'x' }]);
    const res = await daemon.request('POST', '/build', { body: context, headers: { 'Content-Type': 'application/x-tar' } });
    assert.equal(res.status, 400, res.body);
    assert.match(JSON.parse(res.body).message, /invalid build context/);
    assert.ok(!existsSync(path.join(daemon.root, 'tmp', marker)));
    assert.ok(!existsSync(path.join(daemon.root, marker)));
    assert.deepEqual(await leftovers(), []);
  });

  it('refuses a 2 GB body at once with 413', async () => {
    const answer = await rawExchange(daemon.socket, 'POST /v1.47/build HTTP/1.1\r\nHost: d\r\nContent-Type: application/x-tar\r\nContent-Length: 2147483648\r\n\r\nsome bytes');
    assert.match(answer, /^HTTP\/1.1 413/);
    const load = await rawExchange(daemon.socket, 'POST /images/load HTTP/1.1\r\nHost: d\r\nContent-Type: application/x-tar\r\nContent-Length: 2147483648\r\n\r\nx');
    assert.match(load, /^HTTP\/1.1 413/);
    assert.deepEqual(await leftovers(), []);
  });

  it('keeps serving while a connection never sends its body, and cleans up when it goes', async () => {
    const silent = (): net.Socket => {
      const conn = net.createConnection(daemon.socket, () => {
        conn.write('POST /build HTTP/1.1\r\nHost: d\r\nContent-Type: application/x-tar\r\nTransfer-Encoding: chunked\r\n\r\n');
      });
      conn.on('error', () => undefined);
      return conn;
    };
    const first = silent();
    silent(); // left open on purpose: after() stops the daemon with it still connected
    // An upgrade (what attach and exec start use) that announces a body and never sends it.
    const hijack = net.createConnection(daemon.socket, () => {
      hijack.write('POST /exec/abc/start HTTP/1.1\r\nHost: d\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n');
    });
    hijack.on('error', () => undefined);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const ping = await daemon.request('GET', '/_ping');
    assert.equal(ping.status, 200);
    first.destroy();
    const deadline = Date.now() + 5000;
    while (Date.now() < deadline && (await leftovers()).length > 1) await new Promise((r) => setTimeout(r, 50));
    assert.equal((await leftovers()).length, 1, 'only the still-open request has a context directory');
  });

  it('cancels a build when the client goes away', async function () {
    const marker = `sleep 97.${process.pid % 1000}`;
    const before = (await leftovers()).length;
    const context = await tarOf([{ name: 'Dockerfile', body: `FROM busybox\nRUN ${marker}\n` }]);
    await new Promise<void>((resolve, reject) => {
      const req = http.request({ socketPath: daemon.socket, path: '/build?nocache=1', method: 'POST', headers: { 'Content-Type': 'application/x-tar' } }, (res) => {
        res.on('data', (chunk: Buffer) => {
          if (chunk.toString().includes('RUN sleep')) setTimeout(() => { req.destroy(); resolve(); }, 500);
        });
      });
      req.on('error', () => undefined);
      req.on('close', () => resolve());
      req.end(context);
      setTimeout(() => reject(new Error('the build never started')), 30_000);
    });
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline && (sleepers(marker) > 0 || (await leftovers()).length > before)) await new Promise((r) => setTimeout(r, 100));
    assert.equal(sleepers(marker), 0, 'the RUN process was killed');
    assert.equal((await leftovers()).length, before, `the unpacked context was removed: ${daemon.log()}`);
  });
});
