/**
 * Git push webhooks. GitHub: `X-Hub-Signature-256` HMAC of the raw body; GitLab: `X-Gitlab-Token`.
 * A push builds the pushed commit with the repository rule's tags; a delivery id is built once; a branch
 * deletion builds nothing; a newer push cancels a still-queued build of the same branch.
 */
import { createHmac } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { BuildRequest } from '../../builder/request.js';
import { validateBuildRequest } from '../../builder/request.js';
import type { FarmContext } from '../app.js';
import { safeEqual } from '../auth.js';
import { cancelBuild } from '../cancel.js';
import { ApiError } from '../errors.js';
import { expandTemplate, type RepositoryRule } from '../farm-config.js';
import { derivedId, submitBuild } from '../submit.js';

const ZERO_SHA = /^0+$/;

/** What both providers' push payloads boil down to. */
interface Push {
  provider: 'github' | 'gitlab';
  delivery: string;
  repository: string;
  cloneUrl: string;
  ref: string;
  after: string;
}

export async function webhookRoutes(app: FastifyInstance, ctx: FarmContext): Promise<void> {
  // The signature covers the exact bytes: keep them, parse JSON ourselves.
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));

  app.post('/v1/webhooks/github', { schema: { summary: 'GitHub push webhook (HMAC-SHA256 signed)' } }, async (request, reply) => {
    const secret = ctx.farm.webhooks.githubSecret;
    if (!secret) throw new ApiError(404, 'NOT_CONFIGURED', 'GitHub webhooks are not configured (set BUILDER_GITHUB_WEBHOOK_SECRET or [webhooks] github_secret)');
    const body = rawBody(request);
    const signature = request.headers['x-hub-signature-256'];
    if (typeof signature !== 'string') throw new ApiError(401, 'SIGNATURE_MISSING', 'missing X-Hub-Signature-256 header');
    const expected = `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
    if (!safeEqual(signature, expected)) throw new ApiError(401, 'SIGNATURE_INVALID', 'X-Hub-Signature-256 does not match the payload and the configured secret');
    const event = String(request.headers['x-github-event'] ?? '');
    if (event === 'ping') return { ok: true, event: 'ping' };
    if (event !== 'push') return reply.code(202).send({ ignored: `event "${event}" is not built` });
    const payload = parsePayload(body, request.headers['content-type']);
    const repository = payload.repository as Record<string, unknown> | undefined;
    return handlePush(ctx, reply, {
      provider: 'github', delivery: String(request.headers['x-github-delivery'] ?? ''),
      repository: String(repository?.full_name ?? ''), cloneUrl: String(repository?.clone_url ?? ''),
      ref: String(payload.ref ?? ''), after: String(payload.after ?? ''),
    });
  });

  app.post('/v1/webhooks/gitlab', { schema: { summary: 'GitLab push webhook (X-Gitlab-Token)' } }, async (request, reply) => {
    const token = ctx.farm.webhooks.gitlabToken;
    if (!token) throw new ApiError(404, 'NOT_CONFIGURED', 'GitLab webhooks are not configured (set BUILDER_GITLAB_WEBHOOK_TOKEN or [webhooks] gitlab_token)');
    const given = request.headers['x-gitlab-token'];
    if (typeof given !== 'string') throw new ApiError(401, 'SIGNATURE_MISSING', 'missing X-Gitlab-Token header');
    if (!safeEqual(given, token)) throw new ApiError(401, 'SIGNATURE_INVALID', 'X-Gitlab-Token does not match the configured token');
    const event = String(request.headers['x-gitlab-event'] ?? '');
    if (event !== 'Push Hook') return reply.code(202).send({ ignored: `event "${event}" is not built` });
    const payload = parsePayload(rawBody(request), request.headers['content-type']);
    const project = payload.project as Record<string, unknown> | undefined;
    const delivery = request.headers['x-gitlab-event-uuid'] ?? request.headers['idempotency-key'] ?? '';
    return handlePush(ctx, reply, {
      provider: 'gitlab', delivery: String(delivery),
      repository: String(project?.path_with_namespace ?? ''), cloneUrl: String(project?.git_http_url ?? ''),
      ref: String(payload.ref ?? ''), after: String(payload.checkout_sha ?? payload.after ?? ''),
    });
  });
}

async function handlePush(ctx: FarmContext, reply: import('fastify').FastifyReply, push: Push): Promise<unknown> {
  if (!push.repository || !push.ref) throw new ApiError(400, 'INVALID_ARGUMENT', 'push payload lacks the repository or ref');
  if (!push.after || ZERO_SHA.test(push.after)) return reply.code(202).send({ ignored: 'branch deleted: nothing to build' });
  if (!/^[0-9a-f]{40}$/.test(push.after)) throw new ApiError(400, 'INVALID_ARGUMENT', `push payload "after" is not a commit sha: "${push.after.slice(0, 80)}"`);
  if (!push.ref.startsWith('refs/heads/')) return reply.code(202).send({ ignored: `ref ${push.ref} is not a branch` });
  const branch = push.ref.slice('refs/heads/'.length);
  const rule = ruleFor(ctx.farm.webhooks.repositories, push.repository);
  if (!rule) return reply.code(202).send({ ignored: `no [webhooks] rule for repository ${push.repository}` });
  if (rule.branches && !rule.branches.includes(branch)) return reply.code(202).send({ ignored: `branch ${branch} is not in the rule's branches` });
  const values = { sha: push.after, branch, repo: push.repository };
  const request: BuildRequest = validateBuildRequest({
    context: { kind: 'git', url: rule.url ?? push.cloneUrl, ref: push.after }, dockerfile: rule.dockerfile,
    tags: rule.tags.map((tag) => expandTemplate(tag, values)), buildArgs: {}, noCache: false, push: rule.push,
    repository: push.repository, trigger: { kind: 'webhook', provider: push.provider, delivery: push.delivery, branch, sha: push.after },
  }, ctx.farm.git);
  // Without a delivery id, the commit itself is the key: the same push is still built once.
  const id = derivedId(push.provider, push.delivery || `${push.repository}\0${branch}\0${push.after}`);
  const earlier = await claimCommit(ctx, request, id);
  if (earlier !== undefined) return reply.code(202).send({ id: earlier, duplicate: true });
  const submitted = await submitBuild(ctx.records, ctx.queue, request, { id, priority: ctx.farm.api.webhookPriority, attempts: ctx.farm.worker.attempts });
  if (submitted.created) await supersede(ctx, push.repository, branch, id, push.after);
  return reply.code(202).send({ id, duplicate: !submitted.created });
}

/**
 * A replayed delivery under a new delivery id (the signature stays valid, the id is not signed by GitHub) must
 * not build again: the same repository, commit, Dockerfile and tags within `[webhooks] dedupe_window_seconds`
 * are one build. Returns the earlier build's id, or undefined when this one is the first.
 */
async function claimCommit(ctx: FarmContext, request: BuildRequest, id: string): Promise<string | undefined> {
  const window = ctx.farm.webhooks.dedupeWindowSeconds;
  if (window <= 0 || request.context.kind !== 'git') return undefined;
  const what = [request.repository, request.context.ref, request.dockerfile, ...[...request.tags].sort()].join('\0');
  const key = `${ctx.records.prefix}:webhook-commit:${derivedId('commit', what)}`;
  const claimed = await ctx.redis.set(key, id, 'EX', window, 'NX');
  if (claimed === 'OK') return undefined;
  const earlier = await ctx.redis.get(key);
  return earlier === null || earlier === id ? undefined : earlier;
}

/** Remembers the newest build of the branch; the one it replaces is cancelled if it has not started. */
async function supersede(ctx: FarmContext, repository: string, branch: string, id: string, sha: string): Promise<void> {
  const key = `${ctx.records.prefix}:branch:${repository}\0${branch}`;
  const previous = await ctx.redis.getset(key, id);
  if (!previous || previous === id) return;
  const record = await ctx.records.get(previous);
  if (record?.state === 'queued') {
    await cancelBuild(ctx.records, ctx.queue, previous, `superseded by build ${id} (a newer push of ${branch}, commit ${sha.slice(0, 12)})`);
  }
}

function ruleFor(rules: RepositoryRule[], repository: string): RepositoryRule | undefined {
  return rules.find((rule) => rule.repository === repository) ?? rules.find((rule) => rule.repository === '*');
}

function rawBody(request: FastifyRequest): Buffer {
  return Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
}

function parsePayload(body: Buffer, contentType: string | undefined): Record<string, unknown> {
  let text = body.toString('utf8');
  if (contentType?.startsWith('application/x-www-form-urlencoded')) text = new URLSearchParams(text).get('payload') ?? '';
  try {
    const parsed: unknown = JSON.parse(text);
    if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) return parsed as Record<string, unknown>;
  } catch {
    // fall through to the 400 below
  }
  throw new ApiError(400, 'INVALID_ARGUMENT', 'webhook payload is not a JSON object');
}
