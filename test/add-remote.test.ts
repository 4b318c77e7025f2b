/**
 * ADD of URLs and git repositories through the real CLI: files served by a loopback HTTP server in the test,
 * git from a local bare repository over file:// (no network beyond 127.0.0.1).
 */
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { makeFixtureRoot } from './helpers/busybox-fixture.js';
import { expectSuccess, runCli, type CliResult } from './helpers/cli.js';
import { makeTempDir, removeTempDir } from './helpers/temp-root.js';

const sha256 = (data: string | Buffer): string => `sha256:${createHash('sha256').update(data).digest('hex')}`;

/** `#n CACHED` for the progress line naming `step`. */
function wasCached(result: CliResult, step: string): boolean {
  const lines = result.stderr.split('\n');
  const start = lines.find((line) => line.includes(`] ${step}`));
  assert.ok(start, `no progress line for ${step}:\n${result.stderr}`);
  return lines.includes(`${start.split(' ')[0]} CACHED`);
}

/** A tiny tar holding one file, gzipped: ADD of a URL must not extract it. */
function tarGz(): Buffer {
  const header = Buffer.alloc(512);
  header.write('inner.txt');
  header.write('0000644\0', 100);
  header.write('0000000\0', 108);
  header.write('0000000\0', 116);
  header.write('00000000002\0', 124);
  header.write('00000000000\0', 136);
  header.write('0', 156);
  header.write('ustar\x0000', 257);
  header.fill(' ', 148, 156);
  let sum = 0;
  for (const byte of header) sum += byte;
  header.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
  const body = Buffer.alloc(512);
  body.write('x\n');
  return gzipSync(Buffer.concat([header, body, Buffer.alloc(1024)]));
}

describe('ADD of remote sources (CLI)', function () {
  this.timeout(120_000);
  let root = '';
  let scratch = '';
  let server: http.Server;
  let base = '';
  const files = new Map<string, { body: Buffer; lastModified?: string }>();
  let requests = 0;

  before(async function () {
    scratch = await makeTempDir('add-remote-scratch');
    root = await makeFixtureRoot('add-remote-root', scratch);
    server = http.createServer((req, res) => {
      requests++;
      const file = files.get(req.url ?? '');
      if (!file) {
        res.writeHead(404).end('not found');
        return;
      }
      if (file.lastModified) res.setHeader('Last-Modified', file.lastModified);
      res.end(file.body);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  after(async function () {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await removeTempDir(root);
    await removeTempDir(scratch);
  });

  async function build(name: string, dockerfile: string, extra: string[] = []): Promise<CliResult> {
    const context = path.join(scratch, name);
    await mkdir(context, { recursive: true });
    await writeFile(path.join(context, 'Dockerfile'), dockerfile);
    return runCli(['build', '--progress=plain', ...extra, context], { root });
  }

  it('downloads into a dir (URL basename) or a path: mode 0600, Last-Modified mtime, archives not extracted', async function () {
    files.set('/files/hello.txt', { body: Buffer.from('hello remote\n'), lastModified: 'Wed, 21 Oct 2015 07:28:00 GMT' });
    files.set('/files/plain.txt', { body: Buffer.from('plain\n') });
    files.set('/files/data.tar.gz', { body: tarGz() });
    files.set('/', { body: Buffer.from('index\n') });
    const result = expectSuccess(await build('basic', [
      'FROM busybox',
      `ADD ${base}/files/hello.txt /dl/`,
      `ADD ${base}/files/plain.txt /renamed.txt`,
      `ADD ${base}/files/data.tar.gz /archives/`,
      `ADD --chmod=644 ${base}/ /index/`,
      'RUN stat -c "%n %a %u:%g %Y" /dl/hello.txt /renamed.txt /archives/data.tar.gz /index/__unnamed__ && cat /dl/hello.txt',
    ].join('\n')), 'build');
    assert.match(result.stderr, /\/dl\/hello\.txt 600 0:0 1445412480\n/);
    assert.match(result.stderr, /\/renamed\.txt 600 0:0 0\n/);
    assert.match(result.stderr, /\/archives\/data\.tar\.gz 600 0:0 0\n/);
    assert.match(result.stderr, /\/index\/__unnamed__ 644 0:0 0\n/);
    assert.match(result.stderr, /hello remote/);
  });

  it('--checksum: a match builds, a mismatch fails naming the URL and both digests', async function () {
    const body = Buffer.from('pinned content\n');
    files.set('/pinned.txt', { body });
    const ok = expectSuccess(await build('checksum-ok', `FROM busybox\nADD --checksum=${sha256(body)} ${base}/pinned.txt /p.txt\nRUN cat /p.txt\n`), 'build');
    assert.match(ok.stderr, /pinned content/);
    const wrong = `sha256:${'0'.repeat(64)}`;
    const bad = await build('checksum-bad', `FROM busybox\nADD --checksum=${wrong} ${base}/pinned.txt /p.txt\n`);
    assert.notEqual(bad.code, 0);
    assert.ok(bad.stderr.includes(`checksum mismatch for ${base}/pinned.txt: expected ${wrong}, got ${sha256(body)}`), bad.stderr);
    assert.match(bad.stderr, /Dockerfile:2/);
  });

  it('caches by content digest, or by --checksum without downloading', async function () {
    files.set('/changing.txt', { body: Buffer.from('v1\n') });
    const dockerfile = `FROM busybox\nADD ${base}/changing.txt /c.txt\nRUN cat /c.txt\n`;
    expectSuccess(await build('cache', dockerfile), 'first build');
    assert.ok(wasCached(expectSuccess(await build('cache', dockerfile), 'same content'), `ADD ${base}/changing.txt`));
    files.set('/changing.txt', { body: Buffer.from('v2\n') });
    const changed = expectSuccess(await build('cache', dockerfile), 'changed content');
    assert.ok(!wasCached(changed, `ADD ${base}/changing.txt`));
    assert.match(changed.stderr, /v2/);

    const pinned = Buffer.from('pinned v1\n');
    files.set('/pinned2.txt', { body: pinned });
    const withChecksum = `FROM busybox\nADD --checksum=${sha256(pinned)} ${base}/pinned2.txt /p.txt\n`;
    expectSuccess(await build('cache-pinned', withChecksum), 'pinned build');
    const before = requests;
    assert.ok(wasCached(expectSuccess(await build('cache-pinned', withChecksum), 'pinned rebuild'), 'ADD --checksum'));
    assert.equal(requests, before, 'a cached ADD --checksum must not download');
  });

  it('a missing URL is COPY_SOURCE_MISSING with the status', async function () {
    const result = await build('missing', `FROM busybox\nADD ${base}/nope.txt /x\n`);
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /returned 404/);
  });

  it('ADD of a git repository: ref, subdir, --keep-git-dir, cache by commit', async function () {
    const work = path.join(scratch, 'repo-work');
    const bare = path.join(scratch, 'repo.git');
    const git = (args: string[], cwd = work): string =>
      execFileSync('git', ['-c', 'user.email=t@example.com', '-c', 'user.name=t', ...args], { cwd, encoding: 'utf8' });
    await mkdir(path.join(work, 'sub'), { recursive: true });
    await writeFile(path.join(work, 'sub', 'a.txt'), 'in sub\n');
    await writeFile(path.join(work, 'top.txt'), 'one\n');
    git(['init', '-q', '-b', 'main']);
    git(['add', '.']);
    git(['commit', '-qm', 'one']);
    git(['tag', 'v1']);
    await writeFile(path.join(work, 'top.txt'), 'two\n');
    git(['commit', '-qam', 'two']);
    git(['clone', '-q', '--bare', work, bare], scratch);
    const url = `file://${bare}`;
    const dockerfile = [
      'FROM busybox',
      `ADD ${url}#v1:sub /sub`,
      `ADD ${url} /src`,
      `ADD --keep-git-dir=true ${url}#main /kept`,
      'RUN cat /src/top.txt /sub/a.txt && ls -a /src /kept && test ! -e /src/.git && test -d /kept/.git',
    ].join('\n');
    const first = expectSuccess(await build('git', dockerfile), 'git build');
    assert.match(first.stderr, /two\n.*in sub/s);
    assert.ok(wasCached(expectSuccess(await build('git', dockerfile), 'git rebuild'), `ADD ${url} /src`));
    // A new commit on main moves the default ref: the tagged source stays cached, the ones following main miss.
    await writeFile(path.join(work, 'top.txt'), 'three\n');
    git(['commit', '-qam', 'three']);
    git(['push', '-q', bare, 'main']);
    const moved = expectSuccess(await build('git', dockerfile), 'after a new commit');
    assert.ok(!wasCached(moved, `ADD ${url} /src`));
    assert.ok(wasCached(moved, `ADD ${url}#v1:sub /sub`));
    assert.match(moved.stderr, /three/);
  });
});
