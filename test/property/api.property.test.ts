/**
 * Property test of the API's input handling (real Redis, inject): any JSON body and any query string gets a
 * 2xx or a 4xx with `{ statusCode, code, message }`, never a 5xx (a raw error reaching the user).
 */
import { strict as assert } from 'node:assert';
import fc from 'fast-check';
import { createHmac } from 'node:crypto';
import { AUTH, GITHUB_SECRET, GITLAB_TOKEN, startHarness, tarOf, type Harness } from '../../api/test-harness.js';

describe('property: API input handling', function () {
  this.timeout(120_000);
  let h: Harness;
  let count = 0;
  let tar: Buffer;
  before(async function () {
    h = await startHarness({ git: '', config: ['[webhooks.repositories."*"]', 'tags = ["127.0.0.1:5000/hook/app:{sha}"]', 'push = false'].join('\n') });
    tar = await tarOf({ Dockerfile: 'FROM busybox\n' });
  });
  after(async function () {
    console.log(`      API inputs tried: ${count}`);
    await h?.close();
  });

  function checkAnswer(status: number, body: string, what: string): void {
    assert.ok(status < 500, `${what} → ${status} ${body}`);
    if (status >= 400) {
      const parsed = JSON.parse(body) as { statusCode: number; code: string; message: string };
      assert.equal(parsed.statusCode, status);
      assert.equal(typeof parsed.code, 'string');
      assert.ok(parsed.message.length < 2000, 'a very long error message');
    }
  }

  it('any JSON body for a git build', async function () {
    const value = fc.oneof(fc.string({ maxLength: 30 }), fc.integer(), fc.boolean(), fc.constant(null), fc.array(fc.string({ maxLength: 10 }), { maxLength: 3 }),
      fc.dictionary(fc.string({ maxLength: 8 }), fc.string({ maxLength: 12 }), { maxKeys: 3 }));
    const body = fc.record({
      git: fc.oneof(value, fc.record({ url: fc.oneof(value, fc.constantFrom('https://h/x.git', 'file:///x', 'ssh://-o/x', 'git@h:x')), ref: value }, { requiredKeys: [] })),
      tags: value, buildArgs: value, dockerfile: value, target: value, noCache: value, push: value,
    }, { requiredKeys: [] });
    await fc.assert(fc.asyncProperty(fc.oneof(body, value), async (payload) => {
      count++;
      const response = await h.app.inject({ method: 'POST', url: '/v1/builds', headers: { ...AUTH, 'content-type': 'application/json' }, payload: JSON.stringify(payload) });
      checkAnswer(response.statusCode, response.body, JSON.stringify(payload));
    }), { numRuns: 300, seed: 1414 });
  });

  it('any signed webhook payload', async function () {
    const text = fc.oneof(fc.string({ maxLength: 20 }), fc.constantFrom('refs/heads/main', 'refs/tags/v1', 'a'.repeat(40), '0'.repeat(40), 'file:///x', 'https://h/x.git', 'org/app'));
    const payload = fc.record({
      ref: text, after: text, checkout_sha: text,
      repository: fc.oneof(text, fc.record({ full_name: text, clone_url: text }, { requiredKeys: [] })),
      project: fc.oneof(text, fc.record({ path_with_namespace: text, git_http_url: text }, { requiredKeys: [] })),
    }, { requiredKeys: [] });
    await fc.assert(fc.asyncProperty(payload, fc.string({ maxLength: 12 }), async (body, delivery) => {
      count += 2;
      const raw = JSON.stringify(body);
      const signature = `sha256=${createHmac('sha256', GITHUB_SECRET).update(raw).digest('hex')}`;
      const github = await h.app.inject({ method: 'POST', url: '/v1/webhooks/github', payload: raw, headers: {
        'content-type': 'application/json', 'x-github-event': 'push', 'x-github-delivery': delivery, 'x-hub-signature-256': signature,
      } });
      checkAnswer(github.statusCode, github.body, raw);
      const gitlab = await h.app.inject({ method: 'POST', url: '/v1/webhooks/gitlab', payload: raw, headers: {
        'content-type': 'application/json', 'x-gitlab-event': 'Push Hook', 'x-gitlab-token': GITLAB_TOKEN, 'x-gitlab-event-uuid': delivery,
      } });
      checkAnswer(gitlab.statusCode, gitlab.body, raw);
    }), { numRuns: 200, seed: 1414 });
  });

  it('any query string for an upload, and any path under /v1/builds', async function () {
    const key = fc.constantFrom('t', 'dockerfile', 'buildarg', 'target', 'nocache', 'push', 'x', 'limit', 'cursor', 'state');
    const val = fc.oneof(fc.string({ maxLength: 20 }), fc.constantFrom('A=1', '=', '../x', 'true', '-1', '%', '%zz', 'a b'));
    await fc.assert(fc.asyncProperty(fc.array(fc.tuple(key, val), { maxLength: 5 }), fc.string({ maxLength: 20 }), async (pairs, id) => {
      count += 2;
      const query = pairs.map(([k, v]) => `${k}=${encodeURIComponent(v)}`).join('&');
      const upload = await h.app.inject({ method: 'POST', url: `/v1/builds?${query}`, headers: { ...AUTH, 'content-type': 'application/x-tar' }, payload: tar });
      checkAnswer(upload.statusCode, upload.body, query);
      const status = await h.app.inject({ method: 'GET', url: `/v1/builds/${encodeURIComponent(id)}?${query}`, headers: AUTH });
      checkAnswer(status.statusCode, status.body, `${id}?${query}`);
    }), { numRuns: 200, seed: 1414 });
  });
});
