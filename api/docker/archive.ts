/** `docker cp`: HEAD/GET/PUT /containers/{id}/archive, with docker's X-Docker-Container-Path-Stat header. */
import { pipeline } from 'node:stream/promises';
import type { FastifyInstance } from 'fastify';
import type { PathStat } from '../../builder/containers/docker-types.js';
import type { DaemonContext } from './daemon-context.js';
import { badRequest } from './errors.js';
import { containerService, idParam, actorAttributes } from './containers.js';
import { queryString, type Query } from './images-query.js';
import { limitedBody } from './request-body.js';

/** Go's os.FileMode is a uint32 (directory bit 1<<31): a mode built with JS's signed `|` must be made unsigned. */
const statHeader = (stat: PathStat): string => Buffer.from(JSON.stringify({ ...stat, mode: stat.mode >>> 0 })).toString('base64');

function pathParam(query: Query): string {
  const value = queryString(query, 'path');
  if (!value) throw badRequest('path is required: the path inside the container');
  return value;
}

export function archiveRoutes(app: FastifyInstance, ctx: DaemonContext): void {
  app.head('/containers/:id/archive', async (request, reply) => {
    const stat = await (await containerService(ctx)).archiveStat(idParam(request), pathParam(request.query as Query));
    return reply.header('X-Docker-Container-Path-Stat', statHeader(stat)).status(200).send();
  });
  app.get('/containers/:id/archive', { exposeHeadRoute: false }, async (request, reply) => {
    const svc = await containerService(ctx);
    const { stat, tar } = await svc.archiveGet(idParam(request), pathParam(request.query as Query));
    await publishArchive(ctx, svc, idParam(request), 'archive-path');
    reply.hijack();
    reply.raw.writeHead(200, { 'Content-Type': 'application/x-tar', 'X-Docker-Container-Path-Stat': statHeader(stat) });
    await pipeline(tar, reply.raw).catch((err: unknown) => request.log.warn({ err }, 'archive stream ended early'));
  });
  app.put('/containers/:id/archive', async (request, reply) => {
    const body = limitedBody(request, ctx.maxBodyBytes);
    const svc = await containerService(ctx);
    await svc.archivePut(idParam(request), pathParam(request.query as Query), body);
    await publishArchive(ctx, svc, idParam(request), 'extract-to-dir');
    return reply.status(200).send();
  });
}

/** dockerd's `archive-path` (cp out) and `extract-to-dir` (cp in) container events. */
async function publishArchive(ctx: DaemonContext, svc: Awaited<ReturnType<typeof containerService>>, ref: string, action: string): Promise<void> {
  const found = await svc.inspect(ref).catch(() => undefined);
  if (found) ctx.events.publish('container', action, found.Id, actorAttributes(found));
}
