/**
 * The container endpoints that read or turn a container's filesystem into something else: changes (`docker
 * diff`), export, commit (POST /commit), and update (restart policy, resources). All go through the container
 * service, as the CLI's `builder diff|export|commit|update` do.
 */
import { pipeline } from 'node:stream/promises';
import type { FastifyInstance } from 'fastify';
import type { ContainerConfigBody } from '../../builder/containers/docker-types.js';
import type { UpdateBody } from '../../builder/containers/update.js';
import { BuildError } from '../../builder/errors.js';
import { normalizeTag, parseReference } from '../../builder/image/reference.js';
import { objectBody } from './body.js';
import { containerService, idParam, actorAttributes } from './containers.js';
import type { DaemonContext } from './daemon-context.js';
import { badRequest } from './errors.js';
import { queryBool, queryString, type Query } from './images-query.js';

/** A repeated query parameter (`changes=…&changes=…`) as a list. */
export function queryList(query: Query, name: string): string[] {
  const value = query[name];
  return value === undefined ? [] : Array.isArray(value) ? value : [value];
}

/** `repo` + `tag` as docker's commit/import take them, normalised; undefined when no repo is given. */
export function referenceOf(query: Query): string | undefined {
  const repo = queryString(query, 'repo');
  if (!repo) return undefined;
  const tag = queryString(query, 'tag');
  const target = tag ? `${repo}:${tag}` : repo;
  try {
    if (parseReference(target).digest !== undefined) throw badRequest(`refusing to create a tag with a digest reference: ${target}`);
    return normalizeTag(target);
  } catch (err) {
    if (err instanceof BuildError) throw badRequest(`invalid reference format: ${err.message}`);
    throw err;
  }
}

const NUMERIC_FIELDS = ['Memory', 'MemorySwap', 'MemoryReservation', 'NanoCpus', 'CpuShares', 'CpuPeriod', 'CpuQuota', 'PidsLimit', 'BlkioWeight'];
/** Resources `runc update` could apply but the record does not carry yet: refused when set, never dropped. */
const UNSUPPORTED_FIELDS = ['KernelMemory', 'CpuRealtimePeriod', 'CpuRealtimeRuntime', 'Devices', 'DeviceCgroupRules', 'DeviceRequests', 'Ulimits', 'BlkioWeightDevice', 'BlkioDeviceReadBps', 'BlkioDeviceWriteBps', 'BlkioDeviceReadIOps', 'BlkioDeviceWriteIOps', 'CgroupParent', 'OomKillDisable', 'MemorySwappiness'];

export function containerChangeRoutes(app: FastifyInstance, ctx: DaemonContext): void {
  const containers = () => containerService(ctx);

  app.get('/containers/:id/changes', async (request) => {
    const changes = await (await containers()).changes(idParam(request));
    return changes.length > 0 ? changes : null;
  });

  app.get('/containers/:id/export', async (request, reply) => {
    const svc = await containers();
    const found = await svc.inspect(idParam(request));
    const tar = await svc.export(found.Id);
    ctx.events.publish('container', 'export', found.Id, actorAttributes(found));
    reply.hijack();
    reply.raw.writeHead(200, { 'Content-Type': 'application/x-tar' });
    await pipeline(tar, reply.raw).catch((err: unknown) => request.log.warn({ err }, 'export stream ended early'));
  });

  app.post('/commit', async (request, reply) => {
    const query = request.query as Query;
    const container = queryString(query, 'container');
    if (!container) throw badRequest('container is required: the container to commit');
    const reference = referenceOf(query);
    const body = request.body === undefined || request.body === null ? undefined : objectBody(request.body, 'commit config') as unknown as ContainerConfigBody;
    const pause = queryString(query, 'pause') === undefined ? true : queryBool(query, 'pause');
    const svc = await containers();
    const found = await svc.inspect(container);
    const result = await svc.commit(found.Id, {
      reference, pause, config: body, changes: queryList(query, 'changes'),
      comment: queryString(query, 'comment') || undefined, author: queryString(query, 'author') || undefined,
    });
    ctx.events.publish('container', 'commit', found.Id, { ...actorAttributes(found), comment: queryString(query, 'comment') ?? '' });
    if (reference) ctx.events.publish('image', 'tag', result.Id, { name: reference });
    return reply.status(201).send(result);
  });

  app.post('/containers/:id/update', async (request) => {
    const body = objectBody(request.body ?? {}, 'container update request') as unknown as UpdateBody;
    // The docker CLI sends every Resources field (CgroupParent, Devices, Ulimits … at their zero values).
    for (const key of NUMERIC_FIELDS) {
      const value = (body as Record<string, unknown>)[key];
      if (value !== undefined && value !== null && typeof value !== 'number') throw badRequest(`json: cannot unmarshal ${typeof value} into field ${key} of type int64`);
    }
    for (const [key, value] of Object.entries(body as Record<string, unknown>)) {
      if (!UNSUPPORTED_FIELDS.includes(key)) continue;
      if (value !== undefined && value !== null && value !== 0 && value !== false && value !== '' && !(Array.isArray(value) && value.length === 0)) {
        throw new BuildError('NOT_SUPPORTED', `docker update ${key} is not supported by builder daemon (restart policy, memory, cpus, cpu shares/period/quota, cpuset, pids-limit and blkio-weight are)`);
      }
    }
    const svc = await containers();
    const result = await svc.update(idParam(request), body);
    const found = await svc.inspect(idParam(request));
    ctx.events.publish('container', 'update', found.Id, actorAttributes(found));
    return result;
  });
}
