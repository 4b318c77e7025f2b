/**
 * The farm end to end: real Redis, real registry, real git, the API on a real socket, and two worker child
 * processes (`builder worker`) each with its own store. Builds by tar and by git URL are pushed and pulled
 * back with skopeo; SSE is read by a real HTTP client; cancel, failures, webhooks, 20 builds over two
 * workers, `builder build --remote`, and a worker killed with SIGKILL mid-build.
 */
import { createHmac } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { strict as assert } from 'node:assert';
import type { ChildProcess } from 'node:child_process';
import { AUTH, GITHUB_SECRET, gitRepo, startHarness, tarOf, type Harness } from '../api/test-harness.js';
import type { BuildEvent } from '../builder/events.js';
import { expectSuccess, runCli, runCommand } from './helpers/cli.js';

interface SseEvent { id: string; event: BuildEvent }

/** Reads the whole SSE stream with fetch, as any HTTP client would. */
async function readSse(url: string, lastEventId?: string): Promise<SseEvent[]> {
  const response = await fetch(url, { headers: { ...AUTH, ...(lastEventId ? { 'last-event-id': lastEventId } : {}) } });
  assert.equal(response.status, 200);
  assert.match(response.headers.get('content-type') ?? '', /text\/event-stream/);
  const text = await response.text();
  return text.split('\n\n').filter((block) => block.includes('data: ')).map((block) => ({
    id: /^id: (.*)$/m.exec(block)![1]!,
    event: JSON.parse(/^data: (.*)$/m.exec(block)![1]!) as BuildEvent,
  }));
}

describe('farm end to end (API + worker processes + Redis + registry + git)', function () {
  this.timeout(120_000);
  let h: Harness;
  let url: string;
  let registry: string;
  const workers: ChildProcess[] = [];

  before(async () => {
    h = await startHarness({
      registry: true,
      config: (host) => ['[webhooks.repositories."org/app"]', `tags = ["${host}/org/app:{sha}", "${host}/org/app:{branch}"]`].join('\n'),
    });
    registry = h.registry!.host;
    url = await h.listen();
    workers.push(...(await Promise.all([h.startWorker(), h.startWorker()])));
  });
  after(async () => h?.close());

  const post = async (body: Buffer | object, query = ''): Promise<string> => {
    const isTar = Buffer.isBuffer(body);
    const response = await fetch(`${url}/v1/builds${query}`, {
      method: 'POST', headers: { ...AUTH, 'content-type': isTar ? 'application/x-tar' : 'application/json' },
      body: isTar ? new Uint8Array(body) : JSON.stringify(body),
    });
    const answer = (await response.json()) as { id: string; message?: string };
    assert.equal(response.status, 202, answer.message);
    return answer.id;
  };
  const skopeoDigest = async (reference: string): Promise<string> => {
    const inspected = expectSuccess(await runCommand('skopeo', ['inspect', '--tls-verify=false', `docker://${reference}`]), `skopeo inspect ${reference}`);
    return (JSON.parse(inspected.stdout) as { Digest: string }).Digest;
  };

  it('builds an uploaded tar, pushes it, streams its logs over SSE and resumes with Last-Event-ID', async () => {
    const tag = `${registry}/farm/tar:1`;
    const id = await post(await tarOf({ Dockerfile: 'FROM busybox\nCOPY hello.txt /\nRUN cat /hello.txt\n', 'hello.txt': 'hello from tar\n' }),
      `?t=${encodeURIComponent(tag)}&push=true`);
    const events = await readSse(`${url}/v1/builds/${id}/logs`);
    const done = events.at(-1)!.event;
    assert.equal(done.type, 'build.done');
    assert.equal(done.type === 'build.done' && done.error, undefined);
    assert.ok(events.some((e) => e.event.type === 'step.log' && e.event.data.includes('hello from tar')), 'RUN output streamed');
    const record = await h.waitFor(id, ['succeeded']);
    assert.equal(record.steps.length, 3);
    assert.equal(record.steps[2]!.line, 3);
    assert.equal(record.pushed[0]!.reference.endsWith('farm/tar:1'), true);
    assert.equal(await skopeoDigest(tag), record.imageDigest);
    const pulled = path.join(h.dir, 'pulled');
    expectSuccess(await runCommand('skopeo', ['copy', '--src-tls-verify=false', `docker://${tag}`, `oci:${pulled}:tar`]), 'skopeo copy');

    const resumed = await readSse(`${url}/v1/builds/${id}/logs`, events[1]!.id);
    assert.deepEqual(resumed.map((e) => e.id), events.slice(2).map((e) => e.id));

    // The worker keeps the attempt's trace beside the record (written just after the record is final).
    let trace: { traceEvents: { name: string; ph: string; dur?: number }[] } | undefined;
    for (let tries = 0; tries < 50 && !trace; tries++) {
      const response = await fetch(`${url}/v1/builds/${id}/trace`, { headers: AUTH });
      if (response.status === 200) trace = (await response.json()) as typeof trace;
      else await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assert.ok(trace, 'GET /v1/builds/:id/trace answers');
    const names = trace.traceEvents.filter((e) => e.ph === 'X').map((e) => e.name);
    for (const phase of ['plan', 'runc create', 'diff+tar', 'compress+store blob', 'export', 'push']) assert.ok(names.includes(phase), `trace has ${phase}: ${names.join(', ')}`);
    assert.equal((await fetch(`${url}/v1/builds/${'0'.repeat(32)}/trace`, { headers: AUTH })).status, 404);
  });

  it('builds a git URL at a branch and at a commit, pushed', async () => {
    const repo = await gitRepo(path.join(h.dir, 'repo'), { Dockerfile: 'FROM busybox\nCOPY app.txt /\n', 'app.txt': 'from git\n' });
    const byBranch = await post({ git: { url: repo.url, ref: 'main' }, tags: [`${registry}/farm/git:branch`], push: true });
    const bySha = await post({ git: { url: repo.url, ref: repo.sha }, tags: [`${registry}/farm/git:sha`], push: true });
    const [a, b] = await Promise.all([h.waitFor(byBranch, ['succeeded', 'failed']), h.waitFor(bySha, ['succeeded', 'failed'])]);
    assert.equal(a.state, 'succeeded', JSON.stringify(a.error));
    assert.equal(b.state, 'succeeded', JSON.stringify(b.error));
    assert.equal(await skopeoDigest(`${registry}/farm/git:branch`), a.imageDigest);
    assert.equal(await skopeoDigest(`${registry}/farm/git:sha`), b.imageDigest);
  });

  it('a signed GitHub push builds the commit with the rule tags and pushes them', async () => {
    const repo = await gitRepo(path.join(h.dir, 'hook-repo'), { Dockerfile: 'FROM busybox\nRUN echo hook\n' });
    const body = JSON.stringify({ ref: 'refs/heads/main', after: repo.sha, repository: { full_name: 'org/app', clone_url: repo.url } });
    const response = await fetch(`${url}/v1/webhooks/github`, {
      method: 'POST', body,
      headers: {
        'content-type': 'application/json', 'x-github-event': 'push', 'x-github-delivery': 'e2e-1',
        'x-hub-signature-256': `sha256=${createHmac('sha256', GITHUB_SECRET).update(body).digest('hex')}`,
      },
    });
    const { id } = (await response.json()) as { id: string };
    const record = await h.waitFor(id, ['succeeded', 'failed']);
    assert.equal(record.state, 'succeeded', JSON.stringify(record.error));
    assert.deepEqual(record.pushed.map((p) => p.reference.split('/').pop()), [`app:${repo.sha}`, 'app:main']);
    assert.equal(await skopeoDigest(`${registry}/org/app:main`), record.imageDigest);
  });

  it('fails builds with a message: unknown repository, missing ref, failing RUN (with its line)', async () => {
    const repo = await gitRepo(path.join(h.dir, 'repo2'), { Dockerfile: 'FROM busybox\nRUN exit 3\n' });
    const ids = [
      await post({ git: { url: 'file:///nonexistent/repo.git', ref: 'main' } }),
      await post({ git: { url: repo.url, ref: 'no-such-branch' } }),
      await post({ git: { url: repo.url, ref: 'main' } }),
    ];
    const [missingRepo, missingRef, runFailed] = await Promise.all(ids.map((id) => h.waitFor(id, ['failed', 'succeeded'])));
    assert.match(missingRepo!.error!.message, /nonexistent/);
    assert.match(missingRef!.error!.message, /no-such-branch/);
    assert.equal(runFailed!.error!.code, 'RUN_FAILED');
    assert.equal(runFailed!.error!.line, 2);
    assert.equal(workers.every((w) => w.exitCode === null), true, 'workers survive failed builds');
  });

  it('cancels a running build: its 60 s RUN is killed, not waited out', async () => {
    const id = await post(await tarOf({ Dockerfile: 'FROM busybox\nRUN echo started; sleep 60\n' }));
    const deadline = Date.now() + 30_000;
    while (!(await h.ctx.records.eventsAfter(id, '0')).some((e) => e.event.type === 'step.log')) {
      assert.ok(Date.now() < deadline, 'RUN started');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const response = await fetch(`${url}/v1/builds/${id}`, { method: 'DELETE', headers: AUTH });
    assert.equal(response.status, 202);
    // The wait bound is well under the RUN's 60 s, so reaching 'cancelled' in it means the RUN was killed.
    const record = await h.waitFor(id, ['cancelled', 'failed', 'succeeded'], 30_000);
    assert.equal(record.state, 'cancelled');
  });

  it('builder build --remote sends the context, prints the logs and the digest, and fails like a local build', async () => {
    const context = path.join(h.dir, 'remote-ctx');
    await mkdir(path.join(context, 'ignored'), { recursive: true });
    await writeFile(path.join(context, 'Dockerfile'), 'FROM busybox\nCOPY . /ctx/\nRUN ls /ctx\n');
    await writeFile(path.join(context, 'kept.txt'), 'kept');
    await writeFile(path.join(context, 'ignored', 'secret.txt'), 'secret');
    await writeFile(path.join(context, '.dockerignore'), 'ignored\n');
    const ok = await runCli(['build', '--remote', url, '--token', 'ci-token', '-t', 'remote:1', context], { root: path.join(h.dir, 'cli-root') });
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout.trim(), /^sha256:[0-9a-f]{64}$/);
    assert.match(ok.stderr, /kept\.txt/);
    assert.doesNotMatch(ok.stderr, /ignored/);
    await writeFile(path.join(context, 'Dockerfile'), 'FROM busybox\nRUN exit 4\n');
    const traceFile = path.join(h.dir, 'remote-trace.json');
    const failed = await runCli(['build', '--remote', url, '--token', 'ci-token', '--trace', traceFile, context], { root: path.join(h.dir, 'cli-root') });
    assert.equal(failed.code, 1);
    assert.match(failed.stderr, /Dockerfile:2: .*exit code: 4/);
    // --trace with --remote downloads the farm's trace, a failed build's too: the failing step is marked.
    const trace = JSON.parse(await readFile(traceFile, 'utf8')) as { traceEvents: { name: string; ph: string; args?: { error?: string } }[] };
    const failedStep = trace.traceEvents.find((e) => e.ph === 'X' && e.name.startsWith('[2/2] RUN exit 4'));
    assert.match(failedStep?.args?.error ?? '', /exit code: 4/);
    assert.ok(trace.traceEvents.some((e) => e.name === 'runc start+wait'));
    const denied = await runCli(['build', '--remote', url, context], { root: path.join(h.dir, 'cli-root') });
    assert.notEqual(denied.code, 0);
    assert.match(denied.stderr, /401.*--token/);
  });

  it('runs 20 queued builds over the two worker processes', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 20; i++) ids.push(await post(await tarOf({ Dockerfile: `FROM busybox\nRUN echo build ${i}\n` })));
    const records = await Promise.all(ids.map((id) => h.waitFor(id, ['succeeded', 'failed'], 90_000)));
    assert.deepEqual(records.filter((r) => r.state !== 'succeeded').map((r) => r.error), []);
    const hosts = new Set(records.map((r) => r.workers[0]));
    assert.equal(hosts.size, 2, 'both workers took builds');
  });

  it('SIGTERM drains a worker: a build past the grace period is requeued and finishes elsewhere', async () => {
    const id = await post(await tarOf({ Dockerfile: 'FROM busybox\nRUN echo drain; sleep 6\n' }));
    const running = await h.waitFor(id, ['running']);
    const pid = Number(running.workers[0]!.split(':').pop());
    const index = workers.findIndex((w) => w.pid === pid);
    const stopping = workers[index]!;
    const exited = new Promise<number | null>((resolve) => stopping.once('exit', (code) => resolve(code)));
    // SIGTERM first, the replacement after: a replacement that is slow to start (a loaded machine) must not eat the
    // build's time past the 2 s grace period, or the build finishes where it began and nothing is requeued.
    stopping.kill('SIGTERM');
    workers.splice(index, 1, await h.startWorker());
    assert.equal(await exited, 0, 'the worker exits cleanly after the grace period');
    const record = await h.waitFor(id, ['succeeded', 'failed'], 60_000);
    assert.equal(record.state, 'succeeded', JSON.stringify(record.error));
    assert.equal(record.workers.length, 2);
  });

  it('a build whose worker is killed with SIGKILL completes on the other worker', async () => {
    const id = await post(await tarOf({ Dockerfile: 'FROM busybox\nRUN echo long; sleep 4\n' }));
    const running = await h.waitFor(id, ['running']);
    const pid = Number(running.workers[0]!.split(':').pop());
    const victim = workers.find((w) => w.pid === pid)!;
    assert.ok(victim, `worker ${pid} is one of ours`);
    victim.kill('SIGKILL');
    const record = await h.waitFor(id, ['succeeded', 'failed'], 60_000);
    assert.equal(record.state, 'succeeded', JSON.stringify(record.error));
    assert.equal(record.workers.length, 2);
    assert.notEqual(record.workers[1], running.workers[0]);
  });
});
