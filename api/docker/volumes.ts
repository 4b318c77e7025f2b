/** Volumes: thin layer over builder/volume's Docker-shaped functions. */
import type { FastifyInstance } from 'fastify';
import type { DaemonContext } from './daemon-context.js';
import { objectBody, optString, optStringMap } from './body.js';
import { badRequest } from './errors.js';
import { boolFilter, parseFilters } from './filters.js';
import { queryBool, queryString, type Query } from './images-query.js';

const FILTERS = ['name', 'label', 'dangling', 'driver'] as const;

export function volumeRoutes(app: FastifyInstance, ctx: DaemonContext): void {
  const volume = () => import('../../builder/volume/volume-api.js');
  const root = ctx.store.root;
  const volumeFilters = (raw: unknown) => {
    const filters = parseFilters(raw, FILTERS);
    if ((filters.get('driver') ?? []).some((d) => d !== 'local')) return undefined; // no volume has another driver
    return { name: filters.get('name'), label: filters.get('label'), dangling: boolFilter(filters, 'dangling') };
  };

  app.get('/volumes', async (request) => {
    const filters = volumeFilters(queryString(request.query as Query, 'filters'));
    if (!filters) return { Volumes: [], Warnings: [] };
    return (await volume()).listVolumes(root, filters);
  });
  app.get('/volumes/:name', async (request) => (await volume()).inspectVolume(root, (request.params as { name: string }).name));

  app.post('/volumes/create', async (request, reply) => {
    const body = objectBody(request.body, 'volume create request');
    const driver = optString(body, 'Driver');
    if (driver && driver !== 'local') throw badRequest(`volume driver "${driver}" is not supported: only local volumes`);
    const options = optStringMap(body, 'DriverOpts');
    if (options && Object.keys(options).length > 0) throw badRequest('local volume options (DriverOpts) are not supported');
    const created = await (await volume()).createVolume(root, { name: optString(body, 'Name') || undefined, labels: optStringMap(body, 'Labels') });
    ctx.events.publish('volume', 'create', created.Name, { driver: 'local' });
    return reply.status(201).send(created);
  });

  app.delete('/volumes/:name', async (request, reply) => {
    const { name } = request.params as { name: string };
    await (await volume()).removeVolume(root, name, { force: queryBool(request.query as Query, 'force') });
    ctx.events.publish('volume', 'destroy', name, { driver: 'local' });
    return reply.status(204).send();
  });

  app.post('/volumes/prune', async (request) => {
    const raw = parseFilters(queryString(request.query as Query, 'filters'), ['label', 'all', 'label!']);
    const result = await (await volume()).pruneVolumes(root, { all: boolFilter(raw, 'all') === true, filters: { label: raw.get('label') } });
    for (const name of result.VolumesDeleted) ctx.events.publish('volume', 'destroy', name, { driver: 'local' });
    // moby's volume prune report starts from an empty list (`[]`, not null; measured on dockerd 20.10), unlike the others.
    return { VolumesDeleted: result.VolumesDeleted, SpaceReclaimed: result.SpaceReclaimed };
  });
}
