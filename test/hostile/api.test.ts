/**
 * Hostile API requests and webhook payloads against the real API (inject), real Redis and one real worker, with
 * the default [git] policy: each refused with the right status and message, or built without reaching outside
 * its context; no secret of the worker's environment in any record or event.
 */
import { strict as assert } from 'node:assert';
import { createHmac } from 'node:crypto';
import tar from 'tar-stream';
import { AUTH, GITHUB_SECRET, startHarness, type Harness } from '../../api/test-harness.js';
import { buildApp } from '../../api/app.js';
import { requestSerializers } from '../../api/log-redact.js';
import { assertNoSecret, secretMarker } from './escape-check.js';

type Entry = { name: string; body?: string; link?: string; type?: 'symlink' | 'link' | 'file' | 'directory' | 'character-device' };

async function tarWith(entries: Entry[]): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  pack.on('data', (chunk: unknown) => { chunks.push(chunk as Buffer); });
  const ended = new Promise<void>((resolve) => pack.on('end', () => resolve()));
  for (const entry of entries) {
    const type = entry.type ?? (entry.link !== undefined ? 'symlink' : 'file');
    pack.entry({ name: entry.name, type, linkname: entry.link, mode: 0o644, devmajor: 1, devminor: 3 }, type === 'file' ? (entry.body ?? '') : '');
  }
  pack.finalize();
  await ended;
  return Buffer.concat(chunks);
}

describe('hostile API requests and webhooks (real Redis, one worker)', function () {
  this.timeout(120_000);
  let h: Harness;
  let secret = '';
  let inputs = 0;

  before(async function () {
    secret = secretMarker();
    h = await startHarness({ git: '', config: ['[webhooks.repositories."*"]', 'tags = ["127.0.0.1:5000/hook/app:{sha}"]', 'push = false'].join('\n') });
    if (process.getuid?.() === 0) await h.startWorker({ HOSTILE_WORKER_SECRET: secret });
  });
  after(async function () {
    console.log(`      hostile API inputs tried: ${inputs}`);
    await h?.close();
  });

  const submitJson = (body: unknown) => {
    inputs++;
    return h.app.inject({ method: 'POST', url: '/v1/builds', headers: { ...AUTH, 'content-type': 'application/json' }, payload: JSON.stringify(body) });
  };
  const submitTar = (body: Buffer, query = 't=app:1') => {
    inputs++;
    return h.app.inject({ method: 'POST', url: `/v1/builds?${query}`, headers: { ...AUTH, 'content-type': 'application/x-tar' }, payload: body });
  };
  const github = (payload: object, delivery: string) => {
    inputs++;
    const body = JSON.stringify(payload);
    const signature = `sha256=${createHmac('sha256', GITHUB_SECRET).update(body).digest('hex')}`;
    return h.app.inject({
      method: 'POST', url: '/v1/webhooks/github', payload: body,
      headers: { 'content-type': 'application/json', 'x-github-event': 'push', 'x-github-delivery': delivery, 'x-hub-signature-256': signature },
    });
  };

  it('refuses git URLs outside the default policy (https and ssh only) with a 400 that says why', async function () {
    const cases: [string, RegExp][] = [
      ['file:///etc', /file scheme is not enabled/],
      ['file:///var/lib/builder/.git', /file scheme is not enabled/],
      ['git://127.0.0.1/repo.git', /git scheme is not enabled/],
      ['http://169.254.169.254/repo.git', /http scheme is not enabled/],
      ['ssh://-oProxyCommand=id/x', /cannot start with "-"/],
      ['-oProxyCommand=id@h:x', /starts with "-"/],
      ['git@-oProxyCommand=id:x', /cannot start with "-"/],
      ['ext::sh', /remote helper/],
      ['/etc', /want https/],
      ['https://exa mple.com/x.git', /whitespace/],
    ];
    for (const [url, message] of cases) {
      const response = await submitJson({ git: { url, ref: 'main' } });
      assert.equal(response.statusCode, 400, url);
      assert.match(response.json().message, message, url);
    }
    for (const ref of ['--upload-pack=x', 'a..b', 'HEAD@{1}', 'main:x']) {
      const response = await submitJson({ git: { url: 'https://example.com/x.git', ref } });
      assert.equal(response.statusCode, 400, ref);
      assert.match(response.json().message, /invalid git ref/);
    }
  });

  it('refuses path escapes and special files in uploads and options', async function () {
    const cases: [Buffer, string, RegExp][] = [
      [await tarWith([{ name: '../escape', body: 'x' }]), 't=app:1', /outside|\.\./],
      [await tarWith([{ name: '/abs/../../x', body: 'x' }]), 't=app:1', /outside|\.\./],
      [await tarWith([{ name: 'dev', type: 'character-device' }]), 't=app:1', /device/],
      [await tarWith([{ name: 'Dockerfile', body: 'FROM busybox\n' }]), 'dockerfile=../../etc/passwd', /inside the context/],
      [await tarWith([{ name: 'Dockerfile', body: 'FROM busybox\n' }]), 'dockerfile=/etc/passwd', /inside the context/],
      [await tarWith([{ name: 'Dockerfile', body: 'FROM busybox\n' }]), 'buildarg=BAD NAME=1', /invalid build arg name "BAD NAME"/],
      [Buffer.from('not a tar at all, just text'), 't=app:1', /tar/i],
    ];
    for (const [body, query, message] of cases) {
      const response = await submitTar(body, query);
      assert.equal(response.statusCode, 400, `${query}: ${response.body}`);
      assert.match(response.json().message, message);
    }
  });

  it('webhooks: a file:// clone URL is refused, a replay under a new delivery id is the same build', async function () {
    const push = { ref: 'refs/heads/main', after: 'b'.repeat(40), repository: { full_name: 'org/app', clone_url: 'file:///srv/secret.git' } };
    const refused = await github(push, 'd-1');
    assert.equal(refused.statusCode, 400);
    assert.match(refused.json().message, /file scheme is not enabled/);
    const good = { ...push, repository: { full_name: 'org/app', clone_url: 'https://git.example.com/org/app.git' } };
    const first = await github(good, 'd-2');
    assert.equal(first.statusCode, 202, first.body);
    const replay = await github(good, 'd-3-forged');
    assert.deepEqual(replay.json(), { id: first.json().id, duplicate: true });
    const otherCommit = await github({ ...good, after: 'c'.repeat(40) }, 'd-4');
    assert.equal(otherCommit.json().duplicate, false);
  });

  it('the request log redacts build arg values', async function () {
    const lines: string[] = [];
    const stream = { write: (line: string) => { lines.push(line); } };
    const app = await buildApp(h.ctx, { logger: { serializers: requestSerializers, stream } });
    let response;
    try {
      const body = await tarWith([{ name: 'Dockerfile', body: 'FROM busybox\n' }]);
      inputs++;
      response = await app.inject({ method: 'POST', url: `/v1/builds?t=app:1&buildarg=NPM_TOKEN=${secret}`, headers: { ...AUTH, 'content-type': 'application/x-tar' }, payload: body });
      assert.equal(response.statusCode, 202, response.body);
    } finally {
      await app.close();
    }
    assert.ok(lines.some((line) => line.includes('buildarg=NPM_TOKEN%3D***')), lines.join(''));
    const status = await h.app.inject({ method: 'GET', url: `/v1/builds/${response.json().id}`, headers: { authorization: 'Bearer read-token' } });
    assert.deepEqual(status.json().request.buildArgs, { NPM_TOKEN: '***' });
    assertNoSecret(lines, [secret]);
    assertNoSecret(lines, ['ci-token']);
  });

  it('on the worker: a Dockerfile linking to /proc/self/environ and ADD of a file:// repository fail without leaking', async function () {
    if (process.getuid?.() !== 0) {
      console.log('    skipped: the worker builds with runc and needs root');
      this.skip();
    }
    const environ = await submitTar(await tarWith([{ name: 'Dockerfile', link: '/proc/self/environ' }]));
    const addFile = await submitTar(await tarWith([{ name: 'Dockerfile', body: 'FROM busybox\nADD file:///etc/.git /x\n' }]));
    const ignoreLink = await submitTar(await tarWith([
      { name: 'Dockerfile', body: 'FROM busybox\nCOPY . /c/\n' }, { name: '.dockerignore', link: '/proc/self/environ' },
    ]));
    const records = await Promise.all([environ, addFile, ignoreLink].map((r) => h.waitFor(r.json().id, ['failed', 'succeeded'])));
    assert.equal(records[0]!.state, 'failed');
    assert.match(records[0]!.error!.message, /Dockerfile "Dockerfile" not found in the build context|no such file or directory in the build context/);
    assert.equal(records[1]!.state, 'failed');
    assert.match(records[1]!.error!.message, /file scheme is not enabled/);
    assert.equal(records[2]!.state, 'succeeded', JSON.stringify(records[2]!.error));
    const events = await Promise.all(records.map((r) => h.ctx.redis.xrange(`${h.ctx.records.prefix}:build:${r.id}:events`, '-', '+')));
    assertNoSecret([JSON.stringify(records), JSON.stringify(events)], [secret]);
  });
});
