/** Networks: thin layer over builder/network's Docker-shaped functions and its netavark attachments. */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { DaemonContext } from './daemon-context.js';
import { objectBody, optBool, optString, optStringMap } from './body.js';
import { BuildError } from '../../builder/errors.js';
import { badRequest, notSupported } from './errors.js';
import { containerService } from './containers.js';
import { parseFilters, type Filters } from './filters.js';
import { queryString, type Query } from './images-query.js';

const FILTERS = ['name', 'id', 'label', 'driver', 'type', 'scope', 'dangling', 'until'] as const;

function networkFilters(filters: Filters): { name?: string[]; id?: string[]; label?: string[]; driver?: string[] } {
  return { name: filters.get('name'), id: filters.get('id'), label: filters.get('label'), driver: filters.get('driver') };
}

export function networkRoutes(app: FastifyInstance, ctx: DaemonContext): void {
  const network = () => import('../../builder/network/network-api.js');
  const root = ctx.store.root;

  app.get('/networks', async (request) => {
    const filters = parseFilters(queryString(request.query as Query, 'filters'), FILTERS);
    return (await network()).listNetworks(root, networkFilters(filters));
  });
  app.get('/networks/:id', async (request) => (await network()).inspectNetwork(root, (request.params as { id: string }).id));

  app.post('/networks/create', async (request, reply) => {
    const body = objectBody(request.body, 'network create request');
    const name = optString(body, 'Name');
    if (!name) throw badRequest('network name is required (Name)');
    const ipam = objectBody(body.IPAM, 'IPAM');
    const configs = ipam.Config === undefined || ipam.Config === null ? [] : ipam.Config;
    if (!Array.isArray(configs)) throw badRequest('json: cannot unmarshal into field IPAM.Config of type []network.IPAMConfig');
    if (configs.length > 1) throw badRequest('only one IPAM config (one IPv4 subnet) per network is supported');
    const config = objectBody(configs[0], 'IPAM.Config');
    if (optBool(body, 'EnableIPv6')) throw badRequest('IPv6 networks are not supported');
    const driverOptions = optStringMap(body, 'Options') ?? {};
    if (Object.keys(driverOptions).length > 0) {
      throw notSupported(`network driver options (${Object.keys(driverOptions).join(', ')})`);
    }
    const created = await (await network()).createNetwork(root, {
      name, driver: optString(body, 'Driver') || 'bridge', internal: optBool(body, 'Internal'), labels: optStringMap(body, 'Labels'),
      subnet: optString(config, 'Subnet'), gateway: optString(config, 'Gateway'),
    });
    ctx.events.publish('network', 'create', created.Id, { name, type: 'bridge' });
    return reply.status(201).send(created);
  });

  app.delete('/networks/:id', async (request, reply) => {
    const api = await network();
    const found = await api.inspectNetwork(root, (request.params as { id: string }).id);
    await api.removeNetwork(root, found.Id);
    ctx.events.publish('network', 'destroy', found.Id, { name: found.Name, type: 'bridge' });
    return reply.status(204).send();
  });

  app.post('/networks/prune', async (request) => {
    const filters = parseFilters(queryString(request.query as Query, 'filters'), FILTERS);
    const result = await (await network()).pruneNetworks(root, networkFilters(filters));
    for (const name of result.NetworksDeleted) ctx.events.publish('network', 'destroy', name, { name, type: 'bridge' });
    return { NetworksDeleted: result.NetworksDeleted.length > 0 ? result.NetworksDeleted : null };
  });

  // The container service records the change (a created or stopped container joins at its next start) and, while it
  // runs, joins or leaves the network in its namespace.
  const target = async (request: FastifyRequest): Promise<{ id: string; name: string; network: { id: string; name: string } }> => {
    const body = objectBody(request.body, `network ${request.url.endsWith('connect') ? 'connect' : 'disconnect'} request`);
    const ref = optString(body, 'Container');
    if (!ref) throw badRequest('Container is required');
    const found = await (await containerService(ctx)).inspect(ref);
    const joined = await (await network()).inspectNetwork(root, (request.params as { id: string }).id);
    // moby's runconfig errors for its predefined networks: a running container cannot move to or from them.
    if (joined.Driver === 'host') throw new BuildError('CONFLICT', 'container cannot be disconnected from host network or connected to host network');
    if (joined.Driver === 'null') throw new BuildError('CONFLICT', 'container cannot be disconnected from none network or connected to none network');
    return { id: found.Id, name: found.Name.replace(/^\//, ''), network: { id: joined.Id, name: joined.Name } };
  };
  app.post('/networks/:id/connect', async (request, reply) => {
    const { id, name, network } = await target(request);
    const endpointConfig = objectBody(objectBody(request.body, 'network connect request').EndpointConfig, 'EndpointConfig');
    const aliases = Array.isArray(endpointConfig.Aliases) ? endpointConfig.Aliases.filter((a): a is string => typeof a === 'string') : [];
    await (await containerService(ctx)).connectNetwork(id, network, aliases);
    ctx.events.publish('network', 'connect', network.id, { container: id, name: network.name, type: 'bridge' });
    return reply.status(200).send();
  });
  app.post('/networks/:id/disconnect', async (request, reply) => {
    const { id, network } = await target(request);
    await (await containerService(ctx)).disconnectNetwork(id, network);
    ctx.events.publish('network', 'disconnect', network.id, { container: id, name: network.name, type: 'bridge' });
    return reply.status(200).send();
  });
}
