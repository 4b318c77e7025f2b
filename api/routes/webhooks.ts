/**
 * Git push webhooks. GitHub: `X-Hub-Signature-256` HMAC of the raw body; GitLab: `X-Gitlab-Token`; Gitea and
 * Forgejo: `X-Gitea-Signature` / `X-Forgejo-Signature` (the bare hex HMAC-SHA256 of the raw body).
 * A push builds the pushed commit with the repository rule's tags (branch pushes and tag pushes alike); a delivery
 * id is built once; a branch or tag deletion builds nothing; a newer push cancels a still-queued build of the same
 * branch. Every answer that builds nothing is a 202 with `ignored` saying why.
 */
import { createHmac } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { BuildRequest } from '../../builder/request.js';
import { validateBuildRequest } from '../../builder/request.js';
import type { FarmContext } from '../app.js';
import { safeEqual } from '../auth.js';
import { cancelBuild } from '../cancel.js';
import { ApiError } from '../errors.js';
import { expandTemplate, type RepositoryRule } from '../farm-config.js';
import { derivedId, submitBuild } from '../submit.js';

const ZERO_SHA = /^0+$/;
const SHA = /^[0-9a-f]{40}$/;

/** What the providers' push payloads boil down to. */
interface Push {
  provider: 'github' | 'gitlab' | 'gitea';
  delivery: string;
  repository: string;
  cloneUrl: string;
  ref: string;
  /** The ref's new object: a commit, or for an annotated tag the tag object; zeros when the ref was deleted. */
  after: string;
  /** The commit the push points at, when the payload names it apart from `after` (annotated tags). */
  commit?: string;
  deleted?: boolean;
}

const BODY_SCHEMA = { summary: '', description: '', tags: ['webhooks'] };
/** GitHub caps a delivery at 25 MB; a push of many commits is well over fastify's 1 MiB default. */
const WEBHOOK_BODY_LIMIT = 25 * 1024 * 1024;

export async function webhookRoutes(app: FastifyInstance, ctx: FarmContext): Promise<void> {
  // The signature covers the exact bytes: keep them, parse JSON ourselves.
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));

  app.post('/v1/webhooks/github', {
    bodyLimit: WEBHOOK_BODY_LIMIT,
    schema: { ...BODY_SCHEMA, summary: 'GitHub push webhook (HMAC-SHA256 signed)', description: 'Events: push (branches and tags) builds; ping answers 200; others 202 ignored. X-Hub-Signature-256 required.' },
  }, async (request, reply) => {
    const secret = ctx.farm.webhooks.githubSecret;
    if (!secret) throw new ApiError(404, 'NOT_CONFIGURED', 'GitHub webhooks are not configured (set BUILDER_GITHUB_WEBHOOK_SECRET or [webhooks] github_secret)');
    const body = rawBody(request);
    const signature = request.headers['x-hub-signature-256'];
    if (typeof signature !== 'string' || signature === '') throw new ApiError(401, 'SIGNATURE_MISSING', 'missing X-Hub-Signature-256 header');
    const expected = `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
    if (!safeEqual(signature, expected)) throw new ApiError(401, 'SIGNATURE_INVALID', 'X-Hub-Signature-256 does not match the payload and the configured secret');
    const event = String(request.headers['x-github-event'] ?? '');
    if (event === 'ping') return { ok: true, event: 'ping' };
    if (event !== 'push') return ignore(reply, `event "${event}" is not built (only push)`);
    const payload = parsePayload(body, request.headers['content-type']);
    const repository = payload.repository as Record<string, unknown> | undefined;
    const head = payload.head_commit as Record<string, unknown> | undefined | null;
    return handlePush(ctx, reply, {
      provider: 'github', delivery: String(request.headers['x-github-delivery'] ?? ''),
      repository: String(repository?.full_name ?? ''), cloneUrl: String(repository?.clone_url ?? ''),
      ref: String(payload.ref ?? ''), after: String(payload.after ?? ''), commit: typeof head?.id === 'string' ? head.id : undefined,
      deleted: payload.deleted === true,
    });
  });

  app.post('/v1/webhooks/gitlab', {
    bodyLimit: WEBHOOK_BODY_LIMIT,
    schema: { ...BODY_SCHEMA, summary: 'GitLab push webhook (X-Gitlab-Token)', description: 'Events: Push Hook and Tag Push Hook build; others 202 ignored. X-Gitlab-Token required.' },
  }, async (request, reply) => {
    const token = ctx.farm.webhooks.gitlabToken;
    if (!token) throw new ApiError(404, 'NOT_CONFIGURED', 'GitLab webhooks are not configured (set BUILDER_GITLAB_WEBHOOK_TOKEN or [webhooks] gitlab_token)');
    const given = request.headers['x-gitlab-token'];
    if (typeof given !== 'string' || given === '') throw new ApiError(401, 'SIGNATURE_MISSING', 'missing X-Gitlab-Token header');
    if (!safeEqual(given, token)) throw new ApiError(401, 'SIGNATURE_INVALID', 'X-Gitlab-Token does not match the configured token');
    const event = String(request.headers['x-gitlab-event'] ?? '');
    if (event !== 'Push Hook' && event !== 'Tag Push Hook') return ignore(reply, `event "${event}" is not built (only Push Hook and Tag Push Hook)`);
    const payload = parsePayload(rawBody(request), request.headers['content-type']);
    const project = payload.project as Record<string, unknown> | undefined;
    const delivery = request.headers['x-gitlab-event-uuid'] ?? request.headers['idempotency-key'] ?? '';
    const checkout = typeof payload.checkout_sha === 'string' ? payload.checkout_sha : undefined;
    return handlePush(ctx, reply, {
      provider: 'gitlab', delivery: String(delivery),
      repository: String(project?.path_with_namespace ?? ''), cloneUrl: String(project?.git_http_url ?? ''),
      ref: String(payload.ref ?? ''), after: String(payload.after ?? checkout ?? ''), commit: checkout,
    });
  });

  // Gitea and Forgejo send the same payload (GitHub's shape) with their own header names; Forgejo sends both.
  const gitea = async (request: FastifyRequest, reply: FastifyReply): Promise<unknown> => {
    const secret = ctx.farm.webhooks.giteaSecret;
    if (!secret) throw new ApiError(404, 'NOT_CONFIGURED', 'Gitea/Forgejo webhooks are not configured (set BUILDER_GITEA_WEBHOOK_SECRET or [webhooks] gitea_secret)');
    const body = rawBody(request);
    const signature = request.headers['x-forgejo-signature'] ?? request.headers['x-gitea-signature'];
    if (typeof signature !== 'string' || signature === '') throw new ApiError(401, 'SIGNATURE_MISSING', 'missing X-Gitea-Signature (or X-Forgejo-Signature) header');
    const expected = createHmac('sha256', secret).update(body).digest('hex');
    if (!safeEqual(signature.replace(/^sha256=/, '').toLowerCase(), expected)) {
      throw new ApiError(401, 'SIGNATURE_INVALID', 'X-Gitea-Signature does not match the payload and the configured secret');
    }
    const event = String(request.headers['x-forgejo-event'] ?? request.headers['x-gitea-event'] ?? '');
    if (event !== 'push') return ignore(reply, `event "${event}" is not built (only push)`);
    const payload = parsePayload(body, request.headers['content-type']);
    const repository = payload.repository as Record<string, unknown> | undefined;
    const head = payload.head_commit as Record<string, unknown> | undefined | null;
    return handlePush(ctx, reply, {
      provider: 'gitea', delivery: String(request.headers['x-forgejo-delivery'] ?? request.headers['x-gitea-delivery'] ?? ''),
      repository: String(repository?.full_name ?? ''), cloneUrl: String(repository?.clone_url ?? ''),
      ref: String(payload.ref ?? ''), after: String(payload.after ?? ''), commit: typeof head?.id === 'string' ? head.id : undefined,
    });
  };
  const giteaDescription = 'Events: push (branches and tags) builds; others 202 ignored. X-Gitea-Signature or X-Forgejo-Signature (hex HMAC-SHA256) required.';
  app.post('/v1/webhooks/gitea', { bodyLimit: WEBHOOK_BODY_LIMIT, schema: { ...BODY_SCHEMA, summary: 'Gitea push webhook (X-Gitea-Signature)', description: giteaDescription } }, gitea);
  app.post('/v1/webhooks/forgejo', { bodyLimit: WEBHOOK_BODY_LIMIT, schema: { ...BODY_SCHEMA, summary: 'Forgejo push webhook (X-Forgejo-Signature)', description: giteaDescription } }, gitea);
}

function ignore(reply: FastifyReply, reason: string): FastifyReply {
  return reply.code(202).send({ ignored: reason });
}

async function handlePush(ctx: FarmContext, reply: FastifyReply, push: Push): Promise<unknown> {
  if (!push.repository || !push.ref) throw new ApiError(400, 'INVALID_ARGUMENT', 'push payload lacks the repository or ref');
  const isTag = push.ref.startsWith('refs/tags/');
  if (!isTag && !push.ref.startsWith('refs/heads/')) return ignore(reply, `ref ${push.ref} is neither a branch nor a tag`);
  const name = push.ref.slice(isTag ? 'refs/tags/'.length : 'refs/heads/'.length);
  if (push.deleted || !push.after || ZERO_SHA.test(push.after)) return ignore(reply, `${isTag ? 'tag' : 'branch'} ${name} deleted: nothing to build`);
  // An annotated tag's `after` is the tag object; the payload's commit is what gets built and what {sha} means.
  const sha = push.commit && SHA.test(push.commit) ? push.commit : push.after;
  if (!SHA.test(sha)) throw new ApiError(400, 'INVALID_ARGUMENT', `push payload "after" is not a commit sha: "${sha.slice(0, 80)}"`);
  const rule = ruleFor(ctx.farm.webhooks.repositories, push.repository);
  if (!rule) return ignore(reply, `no [webhooks] rule for repository ${push.repository}`);
  if (!isTag && rule.branches && !rule.branches.includes(name)) return ignore(reply, `branch ${name} is not in the rule's branches`);
  if (isTag && rule.gitTags && !rule.gitTags.some((pattern) => globMatch(pattern, name))) return ignore(reply, `tag ${name} matches none of the rule's git_tags`);
  const values = isTag ? { sha, tag: name, repo: push.repository } : { sha, branch: name, repo: push.repository };
  const tags = rule.tags.map((tag) => expandTemplate(tag, values)).filter((tag): tag is string => tag !== undefined);
  if (rule.tags.length > 0 && tags.length === 0) return ignore(reply, `the rule's tags are all for ${isTag ? 'branch' : 'tag'} pushes ({${isTag ? 'branch' : 'tag'}}): nothing to name this ${isTag ? 'tag' : 'branch'} push`);
  const request: BuildRequest = validateBuildRequest({
    context: { kind: 'git', url: rule.url ?? push.cloneUrl, ref: sha }, dockerfile: rule.dockerfile,
    tags, buildArgs: {}, noCache: false, push: rule.push && tags.length > 0,
    repository: push.repository,
    trigger: { kind: 'webhook', provider: push.provider, delivery: push.delivery, branch: name, ...(isTag ? { tag: name } : {}), sha },
  }, ctx.farm.git);
  // Without a delivery id, the commit itself is the key: the same push is still built once.
  const id = derivedId(push.provider, push.delivery || `${push.repository}\0${push.ref}\0${sha}`);
  const earlier = await claimCommit(ctx, request, id);
  if (earlier !== undefined) return reply.code(202).send({ id: earlier, duplicate: true });
  const submitted = await submitBuild(ctx.records, ctx.queue, request, { id, priority: ctx.farm.api.webhookPriority, attempts: ctx.farm.worker.attempts });
  if (submitted.created && !isTag) await supersede(ctx, push.repository, name, id, sha);
  return reply.code(202).send({ id, duplicate: !submitted.created });
}

/** `*` matches any run of characters (`/` included): `v*`, `release-*`. */
function globMatch(pattern: string, name: string): boolean {
  const re = new RegExp(`^${pattern.split('*').map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`);
  return re.test(name);
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
