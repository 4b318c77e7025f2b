/**
 * Farm API through `app.inject` against a real Redis (no workers: builds stay queued, which is what
 * cancel, supersede, queue position and dedup need): auth, limits, bad input, webhooks, health, metrics.
 */
import { createHmac } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { strict as assert } from 'node:assert';
import { AUTH, GITEA_SECRET, GITHUB_SECRET, GITLAB_TOKEN, startHarness, tarOf, type Harness } from '../api/test-harness.js';

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
      config: [
        '[webhooks.repositories."org/app"]', 'tags = ["127.0.0.1:5000/org/app:{sha}", "127.0.0.1:5000/org/app:{branch}", "127.0.0.1:5000/org/app:{tag}"]', 'push = false',
        '[webhooks.repositories."org/releases"]', 'tags = ["127.0.0.1:5000/org/rel:{tag}"]', 'git_tags = ["v*"]', 'push = false',
      ].join('\n'),
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
      assert.equal((await github({}, { 'x-github-event': 'issues' })).json().ignored, 'event "issues" is not built (only push)');
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

    it('GitHub tag pushes: an annotated tag builds its commit with the {tag} names; tag deletion and unmatched tags are ignored', async () => {
      const commit = '1'.repeat(40);
      const tagObject = '2'.repeat(40);
      const pushed = await github(githubPush({ ref: 'refs/tags/v1.2.0', after: tagObject, head_commit: { id: commit } }), { 'x-github-delivery': 'tag-1' });
      assert.equal(pushed.statusCode, 202, pushed.body);
      const record = await h.ctx.records.get(pushed.json().id);
      // {branch} names nothing for a tag push; {sha} is the commit, not the tag object.
      assert.deepEqual(record?.request.tags, [`127.0.0.1:5000/org/app:${commit}`, '127.0.0.1:5000/org/app:v1.2.0']);
      assert.deepEqual(record?.request.context, { kind: 'git', url: 'file:///nonexistent/repo.git', ref: commit });
      assert.deepEqual(record?.request.trigger, { kind: 'webhook', provider: 'github', delivery: 'tag-1', branch: 'v1.2.0', tag: 'v1.2.0', sha: commit });
      const deleted = await github(githubPush({ ref: 'refs/tags/v1.2.0', after: '0'.repeat(40), deleted: true }), { 'x-github-delivery': 'tag-del' });
      assert.equal(deleted.statusCode, 202);
      assert.equal(deleted.json().ignored, 'tag v1.2.0 deleted: nothing to build');
      const releases = (overrides: Record<string, unknown>, delivery: string) =>
        github(githubPush({ repository: { full_name: 'org/releases', clone_url: 'file:///x' }, ...overrides }), { 'x-github-delivery': delivery });
      assert.equal((await releases({ ref: 'refs/tags/nightly', after: '3'.repeat(40) }, 'r-1')).json().ignored, "tag nightly matches none of the rule's git_tags");
      assert.match((await releases({ ref: 'refs/heads/main', after: '3'.repeat(40) }, 'r-2')).json().ignored, /all for tag pushes/);
      const release = await releases({ ref: 'refs/tags/v2', after: '3'.repeat(40) }, 'r-3');
      assert.deepEqual((await h.ctx.records.get(release.json().id))?.request.tags, ['127.0.0.1:5000/org/rel:v2']);
      assert.equal((await github(githubPush({ ref: 'refs/pull/1/head' }), { 'x-github-delivery': 'pr' })).json().ignored, 'ref refs/pull/1/head is neither a branch nor a tag');
    });

    it('GitLab Tag Push Hook builds checkout_sha; other GitLab events are ignored with the reason', async () => {
      const send = (event: string, payload: Record<string, unknown>, uuid: string) => h.app.inject({
        method: 'POST', url: '/v1/webhooks/gitlab', payload: JSON.stringify(payload),
        headers: { 'content-type': 'application/json', 'x-gitlab-event': event, 'x-gitlab-event-uuid': uuid, 'x-gitlab-token': GITLAB_TOKEN },
      });
      const project = { path_with_namespace: 'org/app', git_http_url: 'file:///nonexistent' };
      const tag = await send('Tag Push Hook', { ref: 'refs/tags/v3', before: '0'.repeat(40), after: '4'.repeat(40), checkout_sha: '5'.repeat(40), project }, 'gl-tag');
      assert.equal(tag.statusCode, 202, tag.body);
      assert.deepEqual((await h.ctx.records.get(tag.json().id))?.request.tags, [`127.0.0.1:5000/org/app:${'5'.repeat(40)}`, '127.0.0.1:5000/org/app:v3']);
      const removed = await send('Tag Push Hook', { ref: 'refs/tags/v3', after: '0'.repeat(40), checkout_sha: null, project }, 'gl-tag-del');
      assert.equal(removed.json().ignored, 'tag v3 deleted: nothing to build');
      const note = await send('Note Hook', { object_kind: 'note' }, 'gl-note');
      assert.equal(note.statusCode, 202);
      assert.equal(note.json().ignored, 'event "Note Hook" is not built (only Push Hook and Tag Push Hook)');
    });

    it('Gitea and Forgejo: X-Gitea-Signature / X-Forgejo-Signature checked (401 with a clear body), push built once per delivery', async () => {
      const body = JSON.stringify(githubPush({ after: '6'.repeat(40) }));
      const sign = (secret: string) => createHmac('sha256', secret).update(body).digest('hex');
      const send = (url: string, headers: Record<string, string>) => h.app.inject({ method: 'POST', url, payload: body, headers: { 'content-type': 'application/json', ...headers } });
      const missing = await send('/v1/webhooks/gitea', { 'x-gitea-event': 'push' });
      assert.equal(missing.statusCode, 401);
      assert.deepEqual(missing.json(), { statusCode: 401, code: 'SIGNATURE_MISSING', message: 'missing X-Gitea-Signature (or X-Forgejo-Signature) header' });
      const bad = await send('/v1/webhooks/gitea', { 'x-gitea-event': 'push', 'x-gitea-signature': sign('wrong') });
      assert.equal(bad.statusCode, 401);
      assert.equal(bad.json().code, 'SIGNATURE_INVALID');
      assert.match(bad.json().message, /does not match the payload/);
      const good = { 'x-gitea-event': 'push', 'x-gitea-delivery': 'gt-1', 'x-gitea-signature': sign(GITEA_SECRET) };
      const first = await send('/v1/webhooks/gitea', good);
      assert.equal(first.statusCode, 202, first.body);
      const again = await send('/v1/webhooks/gitea', good);
      assert.deepEqual(again.json(), { id: first.json().id, duplicate: true });
      const record = await h.ctx.records.get(first.json().id);
      assert.equal(record?.request.trigger.kind === 'webhook' && record.request.trigger.provider, 'gitea');
      assert.equal(record?.state, 'queued');
      // Forgejo sends its own header names (and Gitea's); its route is the same handler.
      const forgejo = await send('/v1/webhooks/forgejo', { 'x-forgejo-event': 'push', 'x-forgejo-delivery': 'fj-1', 'x-forgejo-signature': sign(GITEA_SECRET) });
      assert.equal(forgejo.statusCode, 202, forgejo.body);
      assert.deepEqual(forgejo.json(), { id: first.json().id, duplicate: true }, 'the same commit, Dockerfile and tags: built once');
      const create = await send('/v1/webhooks/forgejo', { 'x-forgejo-event': 'create', 'x-forgejo-signature': sign(GITEA_SECRET) });
      assert.equal(create.json().ignored, 'event "create" is not built (only push)');
    });

    it('takes a push of many commits (a 3 MiB payload), JSON with a charset, and GitHub\'s form encoding', async () => {
      const commits = Array.from({ length: 3000 }, (_, i) => ({ id: i.toString(16).padStart(40, '0'), message: 'x'.repeat(1000) }));
      const big = await github(githubPush({ ref: 'refs/heads/big', after: 'a1'.repeat(20), commits }), { 'x-github-delivery': 'big-1', 'content-type': 'application/json; charset=utf-8' });
      assert.equal(big.statusCode, 202, big.body.slice(0, 300));
      assert.equal(typeof big.json().id, 'string');
      const form = `payload=${encodeURIComponent(JSON.stringify(githubPush({ ref: 'refs/heads/form', after: 'b1'.repeat(20) })))}`;
      const formed = await h.app.inject({
        method: 'POST', url: '/v1/webhooks/github', payload: form, headers: {
          'content-type': 'application/x-www-form-urlencoded', 'x-github-event': 'push', 'x-github-delivery': 'form-1',
          'x-hub-signature-256': `sha256=${createHmac('sha256', GITHUB_SECRET).update(form).digest('hex')}`,
        },
      });
      assert.equal(formed.statusCode, 202, formed.body);
      assert.equal((await h.ctx.records.get(formed.json().id))?.request.context.kind, 'git');
    });

    it('the same X-GitHub-Delivery sent twice (a redelivery) queues one job', async () => {
      const payload = githubPush({ ref: 'refs/heads/redeliver', after: '7'.repeat(40) });
      const one = (await github(payload, { 'x-github-delivery': 'redeliver-1' })).json();
      const two = (await github(payload, { 'x-github-delivery': 'redeliver-1' })).json();
      assert.deepEqual(two, { id: one.id, duplicate: true });
      const jobs = (await h.ctx.queue.getJobs(['waiting', 'prioritized'])).filter((job) => job.id === one.id);
      assert.equal(jobs.length, 1);
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

  it('the OpenAPI document lists every route, each answers (no route-less 404), and errors are JSON with a message', async () => {
    const doc = (await h.app.inject({ url: '/docs/json' })).json() as { paths: Record<string, Record<string, unknown>> };
    for (const path of ['/v1/builds', '/v1/builds/{id}', '/v1/builds/{id}/logs', '/v1/builds/{id}/trace', '/v1/farm',
      '/v1/webhooks/github', '/v1/webhooks/gitlab', '/v1/webhooks/gitea', '/v1/webhooks/forgejo', '/healthz', '/readyz', '/metrics', '/queue-depth']) {
      assert.ok(doc.paths[path], `${path} in the OpenAPI document`);
    }
    const id = 'f'.repeat(32);
    for (const [path, methods] of Object.entries(doc.paths)) {
      for (const method of Object.keys(methods)) {
        const answer = await h.app.inject({ method: method.toUpperCase() as 'GET', url: path.replace('{id}', id).replace(/\{[^}]+\}/g, 'x'), headers: AUTH });
        if (answer.statusCode === 404) assert.doesNotMatch(answer.json().message, /^no route/, `${method} ${path} is served`);
        if (answer.headers['content-type']?.toString().startsWith('application/json') && answer.statusCode >= 400) {
          assert.equal(typeof answer.json().message, 'string', `${method} ${path}: a JSON error with a message`);
        }
      }
    }
    const unknown = await h.app.inject({ url: '/v1/nope', headers: AUTH });
    assert.equal(unknown.statusCode, 404);
    assert.deepEqual(unknown.json(), { statusCode: 404, code: 'NOT_FOUND', message: 'no route GET /v1/nope' });
    const missing = await h.app.inject({ url: `/v1/builds/${id}/logs?format=text`, headers: AUTH });
    assert.deepEqual(missing.json(), { statusCode: 404, code: 'NOT_FOUND', message: `no build ${id}` });
    const badFormat = await h.app.inject({ url: `/v1/builds/${id}/logs?format=xml`, headers: AUTH });
    assert.equal(badFormat.statusCode, 400);
    assert.match(badFormat.json().message, /format/);
    const badState = await h.app.inject({ url: '/v1/builds?state=done', headers: AUTH });
    assert.equal(badState.statusCode, 400);
    assert.match(badState.json().message, /state/);
  });

  it('logs ?format=text of a finished build whose event stream expired still ends with its outcome', async () => {
    const { id } = (await submitTar(await tarOf({ Dockerfile: DOCKERFILE }), 't=expired:1')).json() as { id: string };
    await h.ctx.redis.del(h.ctx.records.eventsKey(id));
    await h.ctx.records.update(id, (r) => ({ ...r, state: 'failed', finishedAt: Date.now() - 60_000, error: { code: 'RUN_FAILED', message: 'exit code: 2', file: 'Dockerfile', line: 2 } }));
    const text = await h.app.inject({ url: `/v1/builds/${id}/logs?format=text`, headers: AUTH });
    assert.equal(text.statusCode, 200);
    assert.equal(text.body, `ERROR: Dockerfile:2: exit code: 2 (RUN_FAILED)\nbuild ${id} failed\n`);
  });

  it('lists builds filtered by state and repository, newest first, with a cursor', async () => {
    const github = (after: string, delivery: string) => {
      const body = JSON.stringify(githubPush({ ref: 'refs/heads/listing', after }));
      return h.app.inject({
        method: 'POST', url: '/v1/webhooks/github', payload: body,
        headers: { 'content-type': 'application/json', 'x-github-event': 'push', 'x-github-delivery': delivery, 'x-hub-signature-256': `sha256=${createHmac('sha256', GITHUB_SECRET).update(body).digest('hex')}` },
      });
    };
    await github('8'.repeat(40), 'list-1');
    const newest = (await github('9'.repeat(40), 'list-2')).json().id as string;
    const page = (await h.app.inject({ url: '/v1/builds?repository=org/app&limit=1', headers: AUTH })).json() as { builds: { id: string; repository: string }[]; next?: number };
    assert.equal(page.builds[0]!.id, newest);
    assert.equal(page.builds[0]!.repository, 'org/app');
    assert.ok(page.next !== undefined, 'a cursor to the next page');
    const next = (await h.app.inject({ url: `/v1/builds?repository=org/app&limit=1&cursor=${page.next}`, headers: AUTH })).json() as { builds: { id: string }[] };
    assert.notEqual(next.builds[0]!.id, newest);
    // The older push of the branch was superseded: it is in the cancelled list, not the queued one.
    const cancelled = (await h.app.inject({ url: '/v1/builds?state=cancelled&repository=org/app&limit=200', headers: AUTH })).json() as { builds: { id: string; state: string }[] };
    assert.ok(cancelled.builds.length > 0 && cancelled.builds.every((b) => b.state === 'cancelled'));
    const uploads = (await h.app.inject({ url: '/v1/builds?repository=upload&limit=200', headers: AUTH })).json() as { builds: { repository: string }[] };
    assert.ok(uploads.builds.length > 0 && uploads.builds.every((b) => b.repository === 'upload'));
  });
});
