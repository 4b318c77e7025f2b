/**
 * Containers: thin endpoints over builder/containers' service (which takes and returns the Engine API's shapes),
 * with docker's statuses (201 create, 204 done, 304 already started/stopped) and the event bus.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { BuildError } from '../../builder/errors.js';
import type { Containers } from '../../builder/containers/service.js';
import type { ContainerCreateBody, WaitCondition } from '../../builder/containers/docker-types.js';
import type { DaemonContext } from './daemon-context.js';
import { objectBody } from './body.js';
import { badRequest } from './errors.js';
import { parseFilters } from './filters.js';
import { queryBool, queryString, type Query } from './images-query.js';

const LIST_FILTERS = ['ancestor', 'before', 'expose', 'exited', 'health', 'id', 'isolation', 'is-task', 'label', 'name', 'network', 'publish', 'since', 'status', 'volume'] as const;

const services = new WeakMap<DaemonContext, Promise<Containers>>();
/** The container service over this daemon's store, opened on first use. */
export function containerService(ctx: DaemonContext): Promise<Containers> {
  let service = services.get(ctx);
  if (!service) {
    service = import('../../builder/containers/service.js').then(({ Containers: C }) => C.open(ctx.store.root));
    services.set(ctx, service);
  }
  return service;
}

/**
 * A container event's Actor.Attributes as moby sets them: the container's labels, then `image` and `name` (so
 * `docker events --filter label=com.docker.compose.project=p`, which docker-compose's `events` uses, matches).
 */
export function actorAttributes(found: { Name: string; Config: { Image?: string; Labels?: Record<string, string> | null } } | undefined, fallbackName = ''): Record<string, string> {
  return { ...(found?.Config.Labels ?? {}), image: found?.Config.Image ?? '', name: found?.Name.replace(/^\//, '') ?? fallbackName };
}

export const idParam = (request: FastifyRequest): string => (request.params as { id: string }).id;

function optionalInt(query: Query, name: string): number | undefined {
  const value = queryString(query, name);
  if (value === undefined || value === '') return undefined;
  if (!/^-?\d+$/.test(value)) throw badRequest(`invalid ${name}: "${value}" is not an integer`);
  return Number(value);
}

export function containerRoutes(app: FastifyInstance, ctx: DaemonContext): void {
  const containers = () => containerService(ctx);
  const publish = async (action: string, id: string): Promise<void> => {
    const found = await (await containers()).inspect(id).catch(() => undefined);
    ctx.events.publish('container', action, found?.Id ?? id, actorAttributes(found, id));
  };

  app.post('/containers/create', async (request, reply) => {
    const body = objectBody(request.body, 'container create request') as unknown as ContainerCreateBody;
    if (typeof body.Image !== 'string' || body.Image === '') throw badRequest('Config.Image is required: the image to create the container from');
    for (const key of ['Cmd', 'Entrypoint', 'Env'] as const) {
      const value = (body as unknown as Record<string, unknown>)[key];
      if (value !== undefined && value !== null && !(Array.isArray(value) && value.every((v) => typeof v === 'string')) && !(key !== 'Env' && typeof value === 'string')) {
        throw badRequest(`json: cannot unmarshal ${typeof value} into field ${key} of type []string`);
      }
    }
    const image = await ctx.store.resolve(body.Image).catch(() => undefined);
    if (!image) return reply.status(404).send({ message: `No such image: ${body.Image}` });
    const created = await (await containers()).create(body, queryString(request.query as Query, 'name') || undefined);
    await publish('create', created.Id);
    return reply.status(201).send(created);
  });

  app.get('/containers/json', async (request) => {
    const query = request.query as Query;
    const filters = parseFilters(queryString(query, 'filters'), LIST_FILTERS);
    return (await containers()).list({ all: queryBool(query, 'all'), limit: optionalInt(query, 'limit'), filters: Object.fromEntries(filters), size: queryBool(query, 'size') });
  });
  app.get('/containers/:id/json', async (request) => (await containers()).inspect(idParam(request), { size: queryBool(request.query as Query, 'size') }));

  app.post('/containers/:id/start', async (request, reply) => {
    const svc = await containers();
    if ((await svc.inspect(idParam(request))).State.Running) return reply.status(304).send();
    await svc.start(idParam(request));
    await publish('start', idParam(request));
    return reply.status(204).send();
  });
  app.post('/containers/:id/stop', async (request, reply) => {
    const svc = await containers();
    const query = request.query as Query;
    const before = await svc.inspect(idParam(request));
    if (!before.State.Running) return reply.status(304).send();
    await publish('kill', before.Id);
    await svc.stop(idParam(request), { timeoutSeconds: optionalInt(query, 't'), signal: queryString(query, 'signal') || undefined });
    ctx.events.publish('container', 'die', before.Id, actorAttributes(before));
    ctx.events.publish('container', 'stop', before.Id, actorAttributes(before));
    return reply.status(204).send();
  });
  app.post('/containers/:id/kill', async (request, reply) => {
    await (await containers()).kill(idParam(request), queryString(request.query as Query, 'signal') || 'KILL');
    await publish('kill', idParam(request));
    return reply.status(204).send();
  });
  app.post('/containers/:id/restart', async (request, reply) => {
    const query = request.query as Query;
    const before = await (await containers()).inspect(idParam(request));
    const wasRunning = before.State.Running;
    const begunNs = Date.now() * 1_000_000;
    if (wasRunning) await publish('kill', idParam(request));
    await (await containers()).restart(idParam(request), { timeoutSeconds: optionalInt(query, 't'), signal: queryString(query, 'signal') || undefined });
    // moby's sequence: kill, die, stop (when it ran), start, restart (the exit watcher skips a die announced here).
    if (wasRunning) {
      // The exit watcher may have seen the stop already.
      if (!ctx.events.since(begunNs).some((e) => e.Type === 'container' && e.Action === 'die' && e.Actor.ID === before.Id)) await publish('die', idParam(request));
      await publish('stop', idParam(request));
    }
    await publish('start', idParam(request));
    await publish('restart', idParam(request));
    return reply.status(204).send();
  });
  for (const action of ['pause', 'unpause'] as const) {
    app.post(`/containers/:id/${action}`, async (request, reply) => {
      await (await containers())[action](idParam(request));
      await publish(action, idParam(request));
      return reply.status(204).send();
    });
  }

  app.post('/containers/:id/wait', async (request, reply) => {
    const condition = (queryString(request.query as Query, 'condition') || 'not-running') as WaitCondition;
    if (!['not-running', 'next-exit', 'removed'].includes(condition)) throw badRequest(`invalid condition: "${condition}" (not-running, next-exit or removed)`);
    const svc = await containers();
    const found = await svc.inspect(idParam(request));
    // Headers first, as dockerd does: `docker run` waits on this while it starts the container.
    reply.hijack();
    reply.raw.writeHead(200, { 'Content-Type': 'application/json' });
    reply.raw.flushHeaders();
    const abort = new AbortController();
    reply.raw.on('close', () => abort.abort());
    ctx.shutdown.addEventListener('abort', () => abort.abort(), { once: true });
    // The service answers `removed` with the exit code it saw first; keep the last one seen before the removal.
    let lastExit: number | undefined;
    const watcher = setInterval(() => {
      void svc.inspect(found.Id).then((now) => { if (!now.State.Running && now.State.Status !== 'created') lastExit = now.State.ExitCode; }, () => undefined);
    }, 25);
    try {
      const waited = await svc.wait(found.Id, condition, abort.signal);
      const result = condition === 'removed' && lastExit !== undefined ? { ...waited, StatusCode: lastExit } : waited;
      const attributes = actorAttributes(found);
      ctx.events.publish('container', 'die', found.Id, { ...attributes, exitCode: String(result.StatusCode) });
      // A --rm container is removed by its monitor, not through the API: say so once the wait saw it go.
      if (condition === 'removed') ctx.events.publish('container', 'destroy', found.Id, attributes);
      reply.raw.end(`${JSON.stringify(result)}\n`);
    } catch (err) {
      reply.raw.end(`${JSON.stringify({ StatusCode: -1, Error: { Message: err instanceof Error ? err.message : String(err) } })}\n`);
    } finally {
      clearInterval(watcher);
    }
  });

  app.delete('/containers/:id', async (request, reply) => {
    const query = request.query as Query;
    const found = await (await containers()).inspect(idParam(request));
    await (await containers()).remove(idParam(request), { force: queryBool(query, 'force'), volumes: queryBool(query, 'v') });
    ctx.events.publish('container', 'destroy', found.Id, actorAttributes(found));
    return reply.status(204).send();
  });
  app.post('/containers/:id/rename', async (request, reply) => {
    const name = queryString(request.query as Query, 'name');
    if (!name) throw badRequest('name is required');
    await (await containers()).rename(idParam(request), name);
    await publish('rename', name);
    return reply.status(204).send();
  });
  app.get('/containers/:id/top', async (request) => (await containers()).top(idParam(request), queryString(request.query as Query, 'ps_args') || undefined));
  app.get('/containers/:id/stats', async (request, reply) => {
    const svc = await containers();
    const query = request.query as Query;
    const once = queryString(query, 'stream') === '0' || queryString(query, 'stream') === 'false' || queryBool(query, 'one-shot');
    if (once) return svc.stats(idParam(request));
    reply.hijack();
    reply.raw.writeHead(200, { 'Content-Type': 'application/json' });
    let open = true;
    reply.raw.on('close', () => { open = false; });
    while (open && !ctx.shutdown.aborted) {
      const stats = await svc.stats(idParam(request)).catch(() => undefined);
      if (!stats) break;
      reply.raw.write(`${JSON.stringify(stats)}\n`);
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
    reply.raw.end();
  });
  app.post('/containers/:id/resize', async (request, reply) => {
    const query = request.query as Query;
    const size = (name: string): number => {
      const text = queryString(query, name) ?? '0';
      if (!/^\d+$/.test(text)) throw badRequest(`invalid ${name === 'h' ? 'height' : 'width'}: "${text}"`);
      return Number(text);
    };
    const svc = await containers();
    const [rows, columns] = [size('h'), size('w')];
    const state = (await svc.inspect(idParam(request))).State;
    if (!state.Running) throw new BuildError('CONFLICT', `Container ${idParam(request)} is not running`);
    await svc.resize(idParam(request), rows, columns);
    return reply.status(200).send();
  });
  app.post('/containers/prune', async (request) => {
    const filters = parseFilters(queryString(request.query as Query, 'filters'), ['until', 'label', 'label!']);
    const result = await (await containers()).prune(Object.fromEntries(filters));
    for (const id of result.ContainersDeleted) ctx.events.publish('container', 'destroy', id, {});
    return { ContainersDeleted: result.ContainersDeleted.length > 0 ? result.ContainersDeleted : null, SpaceReclaimed: result.SpaceReclaimed };
  });
}
