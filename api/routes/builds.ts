/** `/v1/builds`: submit (tar upload or git JSON), status, list, cancel. */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { BuildError } from '../../builder/errors.js';
import { parseBuildArgs, validateBuildRequest, type BuildRequest, type ContextSource } from '../../builder/request.js';
import { isTerminal, type BuildRecord, type BuildState } from '../../worker/build-records.js';
import type { FarmContext } from '../app.js';
import { requireScope } from '../auth.js';
import { cancelBuild } from '../cancel.js';
import { storeContext } from '../context-upload.js';
import { ApiError } from '../errors.js';
import { Accepted, BuildIdParams, checkBody, ErrorBody, GitBuildBody, ListQuery, UploadOptions } from '../schemas.js';
import { derivedId, submitBuild } from '../submit.js';

export async function buildsRoutes(app: FastifyInstance, ctx: FarmContext): Promise<void> {
  const { farm, records, queue } = ctx;
  const security = [{ bearer: [] }];

  app.post('/v1/builds', {
    bodyLimit: farm.api.maxContextBytes,
    preHandler: requireScope(farm.api.tokens, 'build'),
    schema: {
      summary: 'Submit a build: a context tar (optionally gzip) with options in the query, or JSON with a git source',
      security, querystring: UploadOptions,
      headers: { type: 'object', properties: { 'idempotency-key': { type: 'string', maxLength: 200 } } },
      response: { 202: Accepted, 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 413: ErrorBody },
    },
  }, async (request, reply) => {
    const buildRequest = Buffer.isBuffer(request.body) ? await uploadRequest(ctx, request) : gitRequest(request.body, request.tokenName!);
    const key = request.headers['idempotency-key'];
    const id = typeof key === 'string' && key !== '' ? derivedId(`api\0${request.tokenName}`, key) : undefined;
    const submitted = await submitBuild(records, queue, validateBuildRequest(buildRequest, farm.git), {
      id, priority: farm.api.interactivePriority, attempts: farm.worker.attempts,
    });
    return reply.code(202).send({ id: submitted.id, duplicate: !submitted.created });
  });

  app.get('/v1/builds', {
    preHandler: requireScope(farm.api.tokens, 'read'),
    schema: { summary: 'List builds, newest first', security, querystring: ListQuery },
  }, async (request) => {
    const query = request.query as ListQuery;
    const page = await records.list({ limit: query.limit ?? 20, cursor: query.cursor, states: query.state as BuildState[] | undefined, repository: query.repository });
    return { builds: page.builds.map(summary), next: page.next };
  });

  app.get('/v1/builds/:id', {
    preHandler: requireScope(farm.api.tokens, 'read'),
    schema: { summary: 'Build status: state, steps, digest, pushed references, error, queue position', security, params: BuildIdParams },
  }, async (request) => {
    const { id } = request.params as { id: string };
    const record = await records.get(id);
    if (!record) throw new ApiError(404, 'NOT_FOUND', `no build ${id}`);
    // A `read` token sees every build: build arg values (often tokens) stay with the worker, their names are shown.
    const shownRequest = { ...record.request, buildArgs: Object.fromEntries(Object.keys(record.request.buildArgs).map((name) => [name, '***'])) };
    return { ...record, request: shownRequest, queuePosition: record.state === 'queued' ? await queuePosition(ctx, id) : undefined };
  });

  app.get('/v1/builds/:id/trace', {
    preHandler: requireScope(farm.api.tokens, 'read'),
    schema: { summary: 'The build\'s trace (Chrome/Perfetto Trace Event JSON: every step\'s phases), kept 7 days', security, params: BuildIdParams },
  }, async (request, reply) => {
    const { id } = request.params as { id: string };
    const trace = await records.getTrace(id);
    if (trace === undefined) {
      const record = await records.get(id);
      throw new ApiError(404, 'NOT_FOUND', record ? `build ${id} has no trace (yet): traces are written when an attempt ends` : `no build ${id}`);
    }
    return reply.type('application/json').send(trace);
  });

  app.delete('/v1/builds/:id', {
    preHandler: requireScope(farm.api.tokens, 'cancel'),
    schema: { summary: 'Cancel a build (a queued one is removed, a running one is killed)', security, params: BuildIdParams },
  }, async (request, reply) => {
    const { id } = request.params as { id: string };
    const before = await records.get(id);
    if (!before) throw new ApiError(404, 'NOT_FOUND', `no build ${id}`);
    if (isTerminal(before.state)) throw new ApiError(409, 'ALREADY_FINISHED', `build ${id} already ${before.state}; nothing to cancel`);
    const record = await cancelBuild(records, queue, id, `cancelled by ${request.tokenName}`);
    return reply.code(202).send({ id, state: record?.state ?? before.state });
  });
}

async function uploadRequest(ctx: FarmContext, request: FastifyRequest): Promise<BuildRequest> {
  const header = request.headers['x-build-request'];
  const options = typeof header === 'string'
    ? checkBody(UploadOptions, parseJson(header, 'X-Build-Request header'), 'X-Build-Request header')
    : (request.query as UploadOptions);
  const context: ContextSource = await storeContext(ctx.records, request.body as Buffer, {
    maxUnpackedBytes: ctx.farm.api.maxUnpackedBytes, ttlSeconds: ctx.farm.api.contextTtlSeconds,
  });
  const buildArgs = parseBuildArgs(options.buildarg ?? [], { flag: 'buildarg' });
  return {
    context, dockerfile: options.dockerfile ?? 'Dockerfile', tags: options.t ?? [], buildArgs, target: options.target,
    noCache: options.nocache ?? false, push: options.push ?? false, repository: 'upload',
    trigger: { kind: 'api', tokenName: request.tokenName! },
  };
}

function gitRequest(body: unknown, tokenName: string): BuildRequest {
  if (body === undefined || body === null) {
    throw new BuildError('INVALID_ARGUMENT', 'empty request: send a context tar (Content-Type: application/x-tar) or JSON with "git"');
  }
  const parsed = checkBody(GitBuildBody, body, 'build request');
  return {
    context: { kind: 'git', url: parsed.git.url, ref: parsed.git.ref ?? 'HEAD' },
    dockerfile: parsed.dockerfile ?? 'Dockerfile', tags: parsed.tags ?? [], buildArgs: parsed.buildArgs ?? {}, target: parsed.target,
    noCache: parsed.noCache ?? false, push: parsed.push ?? false, repository: parsed.git.url, trigger: { kind: 'api', tokenName },
  };
}

function parseJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new BuildError('INVALID_ARGUMENT', `${what} is not valid JSON: ${(err as Error).message}`);
  }
}

/** 0 = next to run. Prioritized jobs are ordered by (priority, insertion); plain waiting ones run first. */
async function queuePosition(ctx: FarmContext, id: string): Promise<number | undefined> {
  const waiting = await ctx.queue.getWaiting(0, 999);
  const index = waiting.findIndex((job) => job.id === id);
  if (index >= 0) return index;
  const prioritized = await ctx.queue.getPrioritized(0, 999);
  const at = prioritized.findIndex((job) => job.id === id);
  return at >= 0 ? waiting.length + at : undefined;
}

function summary(record: BuildRecord): Record<string, unknown> {
  return {
    id: record.id, state: record.state, repository: record.repository, tags: record.request.tags, createdAt: record.createdAt,
    startedAt: record.startedAt, finishedAt: record.finishedAt, imageDigest: record.imageDigest, error: record.error,
    // For the farm page's list: what triggered it, where it ran, and how much the cache saved.
    ref: record.request.context.kind === 'git' ? record.request.context.ref : undefined, trigger: record.request.trigger,
    worker: record.workers.at(-1), cachedSteps: record.steps.filter((s) => s.cached).length,
    runSteps: record.steps.filter((s) => !s.cached).length,
  };
}
