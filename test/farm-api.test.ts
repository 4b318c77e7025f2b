/**
 * Farm API through `app.inject` against a real Redis (no workers: builds stay queued, which is what
 * cancel, supersede, queue position and dedup need): auth, limits, bad input, webhooks, health, metrics.
 */
import { createHmac } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { strict as assert } from 'node:assert';
import { AUTH, GITHUB_SECRET, GITLAB_TOKEN, startHarness, tarOf, type Harness } from '../api/test-harness.js';

const DOCKERFILE = 'FROM busybox\nRUN echo hi\n';

function githubPush(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    ref: 'refs/heads/main', after: 'a'.repeat(40),
    repository: { full_name: 'org/app', clone_url: 'file:///nonexistent/repo.git' }, ...overrides,
  };
}

describe('farm API (inject, real Redis)', function () {
  this.timeout(30_000);
  let h: Harness;

  before(async () => {
    h = await startHarness({
      maxContextBytes: 64 * 1024,
      config: ['[webhooks.repositories."org/app"]', 'tags = ["127.0.0.1:5000/org/app:{sha}", "127.0.0.1:5000/org/app:{branch}"]', 'push = false'].join('\n'),
    });
  });
  after(async () => h?.close());

  const submitTar = (body: Buffer, query = 't=app:1', headers: Record<string, string> = AUTH) =>
    h.app.inject({ method: 'POST', url: `/v1/builds?${query}`, headers: { ...headers, 'content-type': 'application/x-tar' }, payload: body });

  it('answers 401 without a token, 401 for an unknown one, 403 without the scope', async () => {
    const body = await tarOf({ Dockerfile: DOCKERFILE });
    const none = await submitTar(body, 't=app:1', {});
    assert.equal(none.statusCode, 401);
    assert.match(none.json().message, /missing bearer token/);
    assert.equal((await submitTar(body, 't=app:1', { authorization: 'Bearer nope' })).statusCode, 401);
    const reader = await submitTar(body, 't=app:1', { authorization: 'Bearer read-token' });
    assert.equal(reader.statusCode, 403);
    assert.match(reader.json().message, /lacks the "build" scope/);
    assert.equal((await h.app.inject({ url: '/v1/builds', headers: { authorization: 'Bearer read-token' } })).statusCode, 200);
  });

  it('queues a tar upload, shows it queued with a position, lists and cancels it', async () => {
    const first = await submitTar(gzipSync(await tarOf({ Dockerfile: DOCKERFILE })));
    assert.equal(first.statusCode, 202, first.body);
    const second = await submitTar(await tarOf({ Dockerfile: DOCKERFILE, 'a.txt': 'a' }), 't=app:2');
    const { id } = first.json() as { id: string };
    const status = (await h.app.inject({ url: `/v1/builds/${id}`, headers: AUTH })).json();
    assert.equal(status.state, 'queued');
    assert.equal(status.queuePosition, 0);
    assert.equal(status.request.context.gzip, true);
    const secondStatus = (await h.app.inject({ url: `/v1/builds/${second.json().id}`, headers: AUTH })).json();
    assert.equal(secondStatus.queuePosition, 1);

    const list = (await h.app.inject({ url: '/v1/builds?state=queued&limit=1', headers: AUTH })).json();
    assert.equal(list.builds.length, 1);
    assert.equal(list.builds[0].id, second.json().id, 'newest first');
    const page2 = (await h.app.inject({ url: `/v1/builds?state=queued&limit=1&cursor=${list.next}`, headers: AUTH })).json();
    assert.equal(page2.builds[0].id, id);

    const cancel = await h.app.inject({ method: 'DELETE', url: `/v1/builds/${id}`, headers: AUTH });
    assert.equal(cancel.statusCode, 202);
    const cancelled = await h.ctx.records.get(id);
    assert.equal(cancelled?.state, 'cancelled');
    assert.equal(await h.ctx.queue.getJob(id), undefined, 'removed from the queue');
    const events = await h.ctx.records.eventsAfter(id, '0');
    assert.equal(events.at(-1)?.event.type, 'build.done');
    assert.equal((await h.app.inject({ method: 'DELETE', url: `/v1/builds/${id}`, headers: AUTH })).statusCode, 409);
    await h.app.inject({ method: 'DELETE', url: `/v1/builds/${second.json().id}`, headers: AUTH });
  });

  it('makes one build of a retried submission with the same Idempotency-Key', async () => {
    const body = await tarOf({ Dockerfile: DOCKERFILE });
    const headers = { ...AUTH, 'idempotency-key': 'retry-1' };
    const a = (await submitTar(body, 't=app:1', headers)).json();
    const b = (await submitTar(body, 't=app:1', headers)).json();
    assert.equal(a.id, b.id);
    assert.equal(b.duplicate, true);
    await h.app.inject({ method: 'DELETE', url: `/v1/builds/${a.id}`, headers: AUTH });
  });

  it('rejects an oversized context with 413 and says the limit', async () => {
    const response = await submitTar(Buffer.alloc(100 * 1024, 1));
    assert.equal(response.statusCode, 413);
    assert.equal(response.json().code, 'CONTEXT_TOO_LARGE');
    assert.match(response.json().message, /65536 bytes/);
  });

  it('answers bad input with a 4xx that says what is wrong', async () => {
    const json = (payload: string) => h.app.inject({ method: 'POST', url: '/v1/builds', headers: { ...AUTH, 'content-type': 'application/json' }, payload });
    const cases: [Promise<{ statusCode: number; json(): { message: string } }>, RegExp][] = [
      [json('{"git": '), /JSON/i],
      [json(JSON.stringify({ git: { url: 'file:///x' }, colour: 'red' })), /colour|Unexpected property/],
      [json(JSON.stringify({ git: { url: 'file:///x' }, tags: ['Bad Tag!'] })), /invalid tag "Bad Tag!"/],
      [json(JSON.stringify({ git: { url: '--upload-pack=x' } })), /invalid git url/],
      [json(JSON.stringify({ git: { url: 'file:///x', ref: '../etc' } })), /invalid git ref/],
      [submitTar(await tarOf({ Dockerfile: DOCKERFILE, '../escape': 'x' })), /escape.*outside/],
      [submitTar(Buffer.from('not a tar at all, just text '.repeat(40))), /not a valid tar/],
      [submitTar(await tarOf({ Dockerfile: DOCKERFILE }), 'bogus=1'), /bogus|additional/],
      [submitTar(await tarOf({ Dockerfile: DOCKERFILE }), 'dockerfile=../Dockerfile'), /inside the context/],
    ];
    for (const [pending, pattern] of cases) {
      const response = await pending;
      assert.ok(response.statusCode >= 400 && response.statusCode < 500, `${response.statusCode}: ${JSON.stringify(response.json())}`);
      assert.match(response.json().message, pattern);
    }
    assert.equal((await h.app.inject({ url: '/healthz' })).statusCode, 200, 'still serving');
  });

  describe('webhooks', () => {
    const github = (payload: Record<string, unknown>, headers: Record<string, string> = {}, secret = GITHUB_SECRET) => {
      const body = JSON.stringify(payload);
      const signature = `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
      return h.app.inject({
        method: 'POST', url: '/v1/webhooks/github', payload: body,
        headers: { 'content-type': 'application/json', 'x-github-event': 'push', 'x-hub-signature-256': signature, 'x-github-delivery': 'd-1', ...headers },
      });
    };

    it('checks X-Hub-Signature-256: valid, invalid, missing', async () => {
      assert.equal((await github(githubPush(), { 'x-hub-signature-256': '' })).statusCode, 401);
      const invalid = await github(githubPush(), {}, 'wrong-secret');
      assert.equal(invalid.statusCode, 401);
      assert.equal(invalid.json().code, 'SIGNATURE_INVALID');
      const missing = await h.app.inject({ method: 'POST', url: '/v1/webhooks/github', payload: '{}', headers: { 'content-type': 'application/json', 'x-github-event': 'push' } });
      assert.equal(missing.json().code, 'SIGNATURE_MISSING');
      const valid = await github(githubPush(), { 'x-github-delivery': 'valid-1' });
      assert.equal(valid.statusCode, 202, valid.body);
      const record = await h.ctx.records.get(valid.json().id);
      assert.deepEqual(record?.request.tags, [`127.0.0.1:5000/org/app:${'a'.repeat(40)}`, '127.0.0.1:5000/org/app:main']);
      assert.deepEqual(record?.request.context, { kind: 'git', url: 'file:///nonexistent/repo.git', ref: 'a'.repeat(40) });
    });

    it('answers ping, ignores other events and branch deletions, builds a duplicate delivery once', async () => {
      const ping = await github({ zen: 'hi', hook_id: 1 }, { 'x-github-event': 'ping' });
      assert.equal(ping.statusCode, 200);
      assert.equal((await github({}, { 'x-github-event': 'issues' })).json().ignored, 'event "issues" is not built');
      assert.match((await github(githubPush({ after: '0'.repeat(40) }), { 'x-github-delivery': 'del' })).json().ignored, /deleted/);
      const one = (await github(githubPush({ after: 'b'.repeat(40) }), { 'x-github-delivery': 'dup' })).json();
      const two = (await github(githubPush({ after: 'b'.repeat(40) }), { 'x-github-delivery': 'dup' })).json();
      assert.equal(one.id, two.id);
      assert.equal(two.duplicate, true);
      assert.equal((await github(githubPush({ repository: { full_name: 'other/x', clone_url: 'file:///x' } }), { 'x-github-delivery': 'o' })).json().ignored,
        'no [webhooks] rule for repository other/x');
    });

    it('a newer push to the branch cancels the still-queued build, with the reason', async () => {
      const older = (await github(githubPush({ ref: 'refs/heads/feature', after: 'c'.repeat(40) }), { 'x-github-delivery': 'f-1' })).json();
      const newer = (await github(githubPush({ ref: 'refs/heads/feature', after: 'd'.repeat(40) }), { 'x-github-delivery': 'f-2' })).json();
      const record = await h.ctx.records.get(older.id);
      assert.equal(record?.state, 'cancelled');
      assert.match(record?.cancelReason ?? '', new RegExp(`superseded by build ${newer.id}`));
      assert.equal((await h.ctx.records.get(newer.id))?.state, 'queued');
    });

    it('GitLab: X-Gitlab-Token checked, Push Hook built', async () => {
      const payload = JSON.stringify({ ref: 'refs/heads/main', checkout_sha: 'e'.repeat(40), project: { path_with_namespace: 'org/app', git_http_url: 'file:///nonexistent' } });
      const send = (token?: string) => h.app.inject({
        method: 'POST', url: '/v1/webhooks/gitlab', payload,
        headers: { 'content-type': 'application/json', 'x-gitlab-event': 'Push Hook', 'x-gitlab-event-uuid': 'gl-1', ...(token ? { 'x-gitlab-token': token } : {}) },
      });
      assert.equal((await send()).statusCode, 401);
      assert.equal((await send('wrong')).statusCode, 401);
      const ok = await send(GITLAB_TOKEN);
      assert.equal(ok.statusCode, 202, ok.body);
      assert.equal((await h.ctx.records.get(ok.json().id))?.request.trigger.kind, 'webhook');
    });
  });

  it('serves /healthz, /readyz, /metrics and the OpenAPI document', async () => {
    assert.equal((await h.app.inject({ url: '/readyz' })).statusCode, 200);
    const metrics = (await h.app.inject({ url: '/metrics' })).body;
    for (const name of ['builder_queue_depth', 'builder_builds{state="cancelled"}', 'builder_build_duration_seconds', 'builder_cache_hit_ratio']) {
      assert.ok(metrics.includes(name), `${name} in /metrics`);
    }
    assert.match(metrics, /^builder_queue_depth_total \d+$/m);
    const depth = (await h.app.inject({ url: '/queue-depth' })).json() as { depth: number; waiting: number; prioritized: number; dueDelayed: number; active: number };
    assert.equal(depth.depth, depth.waiting + depth.prioritized + depth.dueDelayed + depth.active);

    // The cache counters come from the finished-builds feed the workers append to.
    await h.ctx.records.recordFinished({
      state: 'succeeded', durationMs: 900, cachedSteps: 3, executedSteps: 1,
      cache: { hits: { shared: 2, local: 1 }, misses: 1, waits: 1, bytesFetched: 1234, bytesPublished: 567 },
    });
    const after = (await h.app.inject({ url: '/metrics' })).body;
    assert.match(after, /^builder_cache_lookups_total\{backend="shared",result="hit"\} 2$/m);
    assert.match(after, /^builder_cache_lookups_total\{backend="all",result="miss"\} 1$/m);
    assert.match(after, /^builder_cache_singleflight_waits_total 1$/m);
    assert.match(after, /^builder_cache_bytes_total\{direction="fetched"\} 1234$/m);
    assert.match(after, /^builder_cache_bytes_total\{direction="published"\} 567$/m);
    const doc = (await h.app.inject({ url: '/docs/json' })).json();
    assert.equal(doc.openapi.startsWith('3.'), true);
    assert.ok(doc.paths['/v1/builds/{id}/logs']);
    assert.ok(doc.paths['/v1/webhooks/github']);
  });
});
