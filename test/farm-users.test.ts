/**
 * The farm as a CI system and a git host's webhook use it (branch g6-farm): one real worker process, Redis, a
 * registry and a git repository. Tag pushes (an annotated tag) from GitHub and a Gitea push, signed as those
 * hosts sign, are built and pushed; the logs are followed as `curl -N ...?format=text` shows them, and over SSE
 * with a connection dropped mid-build and resumed with Last-Event-ID (no line lost, none twice); a RUN cancelled
 * mid-way leaves no process, runc container, network namespace or mount behind.
 */
import { execFileSync } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { strict as assert } from 'node:assert';
import { AUTH, GITEA_SECRET, GITHUB_SECRET, gitRepo, startHarness, tarOf, type Harness } from '../api/test-harness.js';
import { RUNC_ROOT } from '../builder/sandbox/runc-root.js';
import { runCli } from './helpers/cli.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Pids whose command line holds `marker` (the RUN's `sh -c` carries it). */
async function pidsWith(marker: string): Promise<number[]> {
  const pids: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const cmdline = await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
    if (cmdline.includes(marker)) pids.push(Number(entry));
  }
  return pids.filter((pid) => pid !== process.pid);
}

/** The runc state dirs (under builder's runc root) whose container's init is `pid`. */
async function runcContainersOf(pid: number): Promise<string[]> {
  const found: string[] = [];
  for (const id of await readdir(RUNC_ROOT).catch(() => [] as string[])) {
    const state = await readFile(path.join(RUNC_ROOT, id, 'state.json'), 'utf8').catch(() => '');
    if (state && (JSON.parse(state) as { init_process_pid?: number }).init_process_pid === pid) found.push(id);
  }
  return found;
}

/** Named netns (`ip netns`) whose namespace inode is `inode`. */
async function netnsWithInode(inode: number): Promise<string[]> {
  const names: string[] = [];
  for (const name of await readdir('/run/netns').catch(() => [] as string[])) {
    const info = await stat(path.join('/run/netns', name)).catch(() => undefined);
    if (info?.ino === inode) names.push(name);
  }
  return names;
}

async function mountsUnder(dir: string): Promise<string[]> {
  const lines = (await readFile('/proc/self/mountinfo', 'utf8')).split('\n');
  return lines.map((line) => line.split(' ')[4] ?? '').filter((point) => point.startsWith(dir + '/'));
}

describe('farm as its users use it (webhooks of three hosts, curl logs, SSE resume, cancel cleanup)', function () {
  this.timeout(60_000);
  let h: Harness;
  let url: string;
  let registry: string;
  let repo: { url: string; sha: string; dir: string };
  let tagObject: string;

  before(async function () {
    if (process.getuid?.() !== 0) {
      console.log('    skipped: the worker builds with runc and overlayfs (needs root)');
      this.skip();
    }
    h = await startHarness({
      registry: true,
      config: (host) => ['[webhooks.repositories."org/app"]', `tags = ["${host}/org/app:{sha}", "${host}/org/app:{branch}", "${host}/org/app:{tag}"]`].join('\n'),
    });
    registry = h.registry!.host;
    repo = await gitRepo(path.join(h.dir, 'repo'), { Dockerfile: 'FROM busybox\nRUN echo built from git\n' });
    execFileSync('git', ['-C', repo.dir, '-c', 'user.name=t', '-c', 'user.email=t@example.com', 'tag', '-a', 'v1.0', '-m', 'release 1.0']);
    tagObject = execFileSync('git', ['-C', repo.dir, 'rev-parse', 'v1.0'], { encoding: 'utf8' }).trim();
    assert.notEqual(tagObject, repo.sha, 'an annotated tag: its own object');
    url = await h.listen();
    await h.startWorker();
  });
  after(async () => h?.close());

  const submit = async (files: Record<string, string>, query = ''): Promise<string> => {
    const response = await fetch(`${url}/v1/builds${query}`, { method: 'POST', headers: { ...AUTH, 'content-type': 'application/x-tar' }, body: new Uint8Array(await tarOf(files)) });
    const answer = (await response.json()) as { id: string; message?: string };
    assert.equal(response.status, 202, answer.message);
    return answer.id;
  };
  const manifestDigest = async (reference: string): Promise<string | null> => {
    const [repository, tag] = reference.slice(registry.length + 1).split(':');
    const response = await fetch(`http://${registry}/v2/${repository}/manifests/${tag}`, {
      method: 'HEAD', headers: { accept: 'application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json' },
    });
    return response.status === 200 ? response.headers.get('docker-content-digest') : null;
  };

  it('a GitHub tag push (annotated tag) and a Gitea branch push, signed as the hosts sign, build the commit and push its names', async () => {
    const payload = JSON.stringify({
      ref: 'refs/tags/v1.0', before: '0'.repeat(40), after: tagObject, created: true, deleted: false,
      head_commit: { id: repo.sha }, repository: { full_name: 'org/app', clone_url: repo.url },
    });
    const tagPush = await fetch(`${url}/v1/webhooks/github`, {
      method: 'POST', body: payload, headers: {
        'content-type': 'application/json', 'x-github-event': 'push', 'x-github-delivery': 'tag-delivery',
        'x-hub-signature-256': `sha256=${createHmac('sha256', GITHUB_SECRET).update(payload).digest('hex')}`,
      },
    });
    assert.equal(tagPush.status, 202);
    const tagBuild = (await tagPush.json()) as { id: string };
    const giteaPayload = JSON.stringify({ ref: 'refs/heads/main', after: repo.sha, repository: { full_name: 'org/app', clone_url: repo.url } });
    const giteaPush = await fetch(`${url}/v1/webhooks/gitea`, {
      method: 'POST', body: giteaPayload, headers: {
        'content-type': 'application/json', 'x-gitea-event': 'push', 'x-gitea-delivery': 'gitea-delivery',
        'x-gitea-signature': createHmac('sha256', GITEA_SECRET).update(giteaPayload).digest('hex'),
      },
    });
    assert.equal(giteaPush.status, 202);
    const branchBuild = (await giteaPush.json()) as { id: string };
    const [tagged, branch] = await Promise.all([h.waitFor(tagBuild.id, ['succeeded', 'failed']), h.waitFor(branchBuild.id, ['succeeded', 'failed'])]);
    assert.equal(tagged.state, 'succeeded', JSON.stringify(tagged.error));
    assert.equal(branch.state, 'succeeded', JSON.stringify(branch.error));
    assert.deepEqual(tagged.pushed.map((p) => p.reference), [`${registry}/org/app:${repo.sha}`, `${registry}/org/app:v1.0`]);
    assert.deepEqual(branch.pushed.map((p) => p.reference), [`${registry}/org/app:${repo.sha}`, `${registry}/org/app:main`]);
    assert.equal(tagged.imageDigest, branch.imageDigest, 'the same commit, the same image');
    for (const name of ['v1.0', 'main']) assert.equal(await manifestDigest(`${registry}/org/app:${name}`), tagged.imageDigest, `org/app:${name} in the registry`);
  });

  it('builder build --remote URL <git url>#<tag> has the farm clone it (no upload), pushed', async () => {
    const tag = `${registry}/users/git:1`;
    const built = await runCli(['build', '--remote', url, '--token', 'ci-token', '--progress=plain', '-t', tag, '--push', `${repo.url}#v1.0`], { root: path.join(h.dir, 'cli-root') });
    assert.equal(built.code, 0, built.stderr);
    assert.match(built.stderr, /built from git/);
    const digest = built.stdout.trim();
    assert.match(digest, /^sha256:[0-9a-f]{64}$/);
    assert.equal(await manifestDigest(tag), digest);
    const subdir = await runCli(['build', '--remote', url, '--token', 'ci-token', `${repo.url}#v1.0:sub`], { root: path.join(h.dir, 'cli-root') });
    assert.notEqual(subdir.code, 0);
    assert.match(subdir.stderr, /subdirectory \(#ref:dir\) is not supported/);
    const missing = await runCli(['build', '--remote', url, '--token', 'ci-token', `${repo.url}#no-such-tag`], { root: path.join(h.dir, 'cli-root') });
    assert.notEqual(missing.code, 0);
    assert.match(missing.stderr, /no-such-tag/);
  });

  it('follows a running build as plain text (curl -N ...?format=text): progress lines, then the pushed names and the state', async () => {
    const tag = `${registry}/users/text:1`;
    const id = await submit({ Dockerfile: 'FROM busybox\nRUN echo first line; sleep 1; echo second line\n' }, `?t=${encodeURIComponent(tag)}&push=true`);
    const response = await fetch(`${url}/v1/builds/${id}/logs?format=text`, { headers: AUTH });
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') ?? '', /^text\/plain/);
    const text = await response.text();
    const lines = text.trimEnd().split('\n');
    assert.ok(lines.includes('#2 [2/2] RUN echo first line; sleep 1; echo second line'), text);
    assert.ok(lines.some((line) => /^#2 \d+\.\d{3} first line$/.test(line)), text);
    assert.ok(lines.some((line) => /^#2 \d+\.\d{3} second line$/.test(line)), text);
    const record = await h.waitFor(id, ['succeeded']);
    assert.equal(lines.at(-2), `pushed ${tag}@${record.imageDigest}`);
    assert.equal(lines.at(-1), `build ${id} succeeded`);
    // Accept: text/plain picks the same mode; a finished build's logs stay readable.
    const again = await fetch(`${url}/v1/builds/${id}/logs`, { headers: { ...AUTH, accept: 'text/plain' } });
    assert.equal(await again.text(), text);

    const failed = await submit({ Dockerfile: 'FROM busybox\nRUN echo fine\nRUN echo broken; exit 3\n' });
    const failedText = await (await fetch(`${url}/v1/builds/${failed}/logs?format=text`, { headers: AUTH })).text();
    assert.match(failedText, /^ERROR: Dockerfile:3: process "\/bin\/sh -c echo broken; exit 3" did not complete successfully: exit code: 3 \(RUN_FAILED\)$/m);
    assert.match(failedText, new RegExp(`build ${failed} failed\\n$`));
    const status = (await (await fetch(`${url}/v1/builds/${failed}`, { headers: AUTH })).json()) as { state: string; error: { code: string; file: string; line: number; message: string } };
    assert.equal(status.state, 'failed');
    assert.deepEqual({ code: status.error.code, file: status.error.file, line: status.error.line }, { code: 'RUN_FAILED', file: 'Dockerfile', line: 3 });
  });

  it('SSE dropped mid-build and resumed with Last-Event-ID: every event once, in order', async () => {
    const id = await submit({ Dockerfile: 'FROM busybox\nRUN for i in 1 2 3 4 5 6 7 8; do echo line $i; sleep 0.4; done\n' });
    const seen: { id: string; data: string }[] = [];
    const parse = (chunk: string): void => {
      for (const block of chunk.split('\n\n')) {
        const idLine = /^id: (.*)$/m.exec(block);
        const data = /^data: (.*)$/m.exec(block);
        if (idLine && data) seen.push({ id: idLine[1]!, data: data[1]! });
      }
    };
    // First connection: read until the first RUN output line, then drop it (abort mid-build).
    const controller = new AbortController();
    const first = await fetch(`${url}/v1/builds/${id}/logs`, { headers: AUTH, signal: controller.signal });
    const reader = first.body!.getReader();
    let buffered = '';
    const decoder = new TextDecoder();
    while (!seen.some((e) => e.data.includes('line 1'))) {
      const { value, done } = await reader.read();
      assert.equal(done, false, 'the stream is still open before the first line');
      buffered += decoder.decode(value, { stream: true });
      const cut = buffered.lastIndexOf('\n\n');
      if (cut >= 0) {
        parse(buffered.slice(0, cut));
        buffered = buffered.slice(cut + 2);
      }
    }
    controller.abort();
    const record = await h.ctx.records.get(id);
    assert.equal(record?.state, 'running', 'dropped while the build runs');
    const resumed = await fetch(`${url}/v1/builds/${id}/logs`, { headers: { ...AUTH, 'last-event-id': seen.at(-1)!.id } });
    parse(await resumed.text());
    const full = await (await fetch(`${url}/v1/builds/${id}/logs`, { headers: AUTH })).text();
    const all: { id: string; data: string }[] = [];
    for (const block of full.split('\n\n')) {
      const idLine = /^id: (.*)$/m.exec(block);
      const data = /^data: (.*)$/m.exec(block);
      if (idLine && data) all.push({ id: idLine[1]!, data: data[1]! });
    }
    assert.deepEqual(seen, all, 'dropped + resumed = the whole stream');
    const output = all.map((e) => JSON.parse(e.data) as { type: string; data?: string }).filter((e) => e.type === 'step.log').map((e) => e.data).join('');
    assert.equal(output, [1, 2, 3, 4, 5, 6, 7, 8].map((i) => `line ${i}\n`).join(''));
  });

  it('cancel mid-RUN: the RUN process, its runc container, its network namespace and its mounts are gone', async () => {
    const marker = `cancel-marker-${process.pid}-${Date.now()}`;
    // Not a bare `...; sleep 60`: sh would exec its last command and the marker would leave the process table.
    const id = await submit({ Dockerfile: `FROM busybox\nRUN echo ${marker}; sleep 60; echo not reached\n` });
    const deadline = Date.now() + 30_000;
    let pids: number[] = [];
    while ((pids = await pidsWith(marker)).length === 0 || !(await h.ctx.records.eventsAfter(id, '0')).some((e) => e.event.type === 'step.log')) {
      assert.ok(Date.now() < deadline, 'the RUN started');
      await sleep(50);
    }
    const pid = pids[0]!;
    const containers = await runcContainersOf(pid);
    assert.equal(containers.length, 1, `one runc container runs the RUN (pid ${pid})`);
    const inode = (await stat(`/proc/${pid}/ns/net`)).ino;
    assert.equal((await netnsWithInode(inode)).length, 1, 'the RUN runs in a named build netns (the isolated network)');
    const workerRoots = (await readdir(h.dir)).filter((name) => name.startsWith('worker-')).map((name) => path.join(h.dir, name));
    assert.ok((await Promise.all(workerRoots.map(mountsUnder))).flat().length > 0, 'the RUN\'s rootfs is mounted under the worker\'s store');

    const response = await fetch(`${url}/v1/builds/${id}`, { method: 'DELETE', headers: AUTH });
    assert.equal(response.status, 202);
    const record = await h.waitFor(id, ['cancelled', 'failed', 'succeeded'], 30_000);
    assert.equal(record.state, 'cancelled');
    assert.equal(record.error?.code, 'CANCELLED');
    // Teardown ends with the record; give what runs in the background after it (netns detach) a bounded moment.
    const leftovers = async () => ({
      processes: await pidsWith(marker),
      containers: (await Promise.all(containers.map(async (c) => ((await stat(path.join(RUNC_ROOT, c)).catch(() => undefined)) ? [c] : [])))).flat(),
      netns: await netnsWithInode(inode),
      mounts: (await Promise.all(workerRoots.map(mountsUnder))).flat(),
    });
    let left = await leftovers();
    for (let tries = 0; tries < 100 && Object.values(left).some((list) => list.length > 0); tries++) {
      await sleep(100);
      left = await leftovers();
    }
    assert.deepEqual(left, { processes: [], containers: [], netns: [], mounts: [] });
  });

  it('a build whose worker is SIGKILLed again and again fails clearly (not `running` for ever), and pushes no image', async function () {
    this.timeout(90_000);
    // The worker from before() takes it first; each kill makes BullMQ's stalled check hand it to the next one, and
    // past maxStalledCount (2) BullMQ fails it without running it: the record must say so.
    const marker = `kill-marker-${process.pid}-${Date.now()}`;
    const tag = `${registry}/users/killed:1`;
    const id = await submit({ Dockerfile: `FROM busybox\nRUN echo ${marker}; sleep 30; echo not reached\n` }, `?t=${encodeURIComponent(tag)}&push=true`);
    try {
      for (let round = 0; round < 3; round++) {
        const deadline = Date.now() + 30_000;
        let record = await h.ctx.records.get(id);
        while (record?.state !== 'running' || record.workers.length !== round + 1) {
          assert.ok(Date.now() < deadline, `round ${round}: the build runs on a new worker: ${JSON.stringify(record)}`);
          await sleep(100);
          record = await h.ctx.records.get(id);
        }
        const pid = Number(record.workers[round]!.split(':').pop());
        process.kill(pid, 'SIGKILL');
        await h.startWorker();
      }
      const record = await h.waitFor(id, ['failed', 'succeeded', 'cancelled'], 40_000);
      assert.equal(record.state, 'failed');
      assert.equal(record.error?.code, 'INTERNAL');
      assert.match(record.error?.message ?? '', /stopped \(killed, out of memory, or its machine went away\) once too often.*stalled more than allowable limit/);
      const events = await h.ctx.records.eventsAfter(id, '0');
      const done = events.filter((e) => e.event.type === 'build.done');
      assert.equal(done.length, 1, 'one build.done: a log follower ends');
      assert.equal(await manifestDigest(tag), null, 'nothing pushed');
    } finally {
      // SIGKILLed workers leave their RUN's container behind (the next build in that store would reap it).
      for (const pid of await pidsWith(marker)) {
        for (const container of await runcContainersOf(pid)) execFileSync('runc', ['--root', RUNC_ROOT, 'delete', '--force', container], { stdio: 'ignore' });
      }
    }
  });
});
