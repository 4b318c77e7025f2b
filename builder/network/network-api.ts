/**
 * Networks in the Docker Engine API's shapes (GET /networks, /networks/{id}, POST /networks/create,
 * DELETE, POST /networks/prune), so the CLI prints them and `builder daemon` serves them unchanged.
 */
import { createHash } from 'node:crypto';
import { BuildError } from '../errors.js';
import { withFileLock } from '../store/file-lock.js';
import { readAttachments, usersOf, type AttachmentTable } from './attachments.js';
import { parseCidr } from './ipv4.js';
import {
  createNetworkRecord, deleteNetworkRecord, DEFAULT_NETWORK, findNetwork, listNetworkRecords, networkLockPath,
  RESERVED_NETWORKS, type CreateNetworkOptions, type NetworkRecord,
} from './network-record.js';

export interface DockerNetworkContainer {
  Name: string;
  EndpointID: string;
  MacAddress: string;
  IPv4Address: string;
  IPv6Address: string;
}

/** docker's NetworkResource (types.NetworkResource in moby). */
export interface DockerNetwork {
  Name: string;
  Id: string;
  Created: string;
  Scope: 'local';
  Driver: string;
  EnableIPv6: boolean;
  IPAM: { Driver: 'default'; Options: Record<string, string>; Config: { Subnet: string; Gateway: string }[] };
  Internal: boolean;
  Attachable: boolean;
  Ingress: boolean;
  ConfigFrom: { Network: string };
  ConfigOnly: boolean;
  Containers: Record<string, DockerNetworkContainer>;
  Options: Record<string, string>;
  Labels: Record<string, string>;
}

/** docker's network filters: name (substring), id (prefix), label (key or key=value), driver. */
export interface NetworkFilters {
  name?: string[];
  id?: string[];
  label?: string[];
  driver?: string[];
}

function toDocker(record: NetworkRecord, table: AttachmentTable): DockerNetwork {
  const prefix = parseCidr(record.subnet).prefix;
  const containers: Record<string, DockerNetworkContainer> = {};
  for (const user of usersOf(table, record.id)) {
    const endpoint = user.endpoints.find((e) => e.network.id === record.id)!;
    containers[user.containerId] = {
      Name: user.name, EndpointID: endpoint.endpointId, MacAddress: endpoint.macAddress, IPv4Address: `${endpoint.ip}/${prefix}`, IPv6Address: '',
    };
  }
  return {
    Name: record.name, Id: record.id, Created: record.created, Scope: 'local', Driver: 'bridge', EnableIPv6: false,
    IPAM: { Driver: 'default', Options: {}, Config: [{ Subnet: record.subnet, Gateway: record.gateway }] },
    Internal: record.internal, Attachable: false, Ingress: false, ConfigFrom: { Network: '' }, ConfigOnly: false,
    Containers: containers,
    // A user network shows the driver options it was created with, none (as dockerd): docker-compose compares them
    // with the compose file's and would ask for the network to be recreated over our bridge's internal name.
    Options: record.name === DEFAULT_NETWORK ? { 'com.docker.network.bridge.default_bridge': 'true', 'com.docker.network.bridge.name': record.bridge } : {},
    Labels: record.labels,
  };
}

/**
 * docker's predefined `host` and `none` (drivers `host` and `null`): they have no record (nothing to configure,
 * no address pool), but `network ls` lists them, `network inspect none` finds them, and removing them is refused.
 * Their ids are fixed digests of their names, so they are the same on every start.
 */
const BUILTIN_NETWORKS = [{ name: 'host', driver: 'host' }, { name: 'none', driver: 'null' }] as const;

function builtinNetwork(name: string, driver: string): DockerNetwork {
  return {
    Name: name, Id: createHash('sha256').update(`builder predefined network ${name}`).digest('hex'), Created: '1970-01-01T00:00:00Z',
    Scope: 'local', Driver: driver, EnableIPv6: false, IPAM: { Driver: 'default', Options: {}, Config: [] },
    Internal: false, Attachable: false, Ingress: false, ConfigFrom: { Network: '' }, ConfigOnly: false,
    Containers: {}, Options: {}, Labels: {},
  };
}

/** The predefined network `ref` names (name, id or a unique id prefix), or undefined. */
export function findBuiltinNetwork(ref: string): DockerNetwork | undefined {
  const all = BUILTIN_NETWORKS.map((n) => builtinNetwork(n.name, n.driver));
  return all.find((n) => n.Name === ref || n.Id === ref)
    ?? (/^[0-9a-f]+$/.test(ref) ? all.find((n) => n.Id.startsWith(ref)) : undefined);
}

function matchesBuiltin(network: DockerNetwork, filters: NetworkFilters): boolean {
  const any = (values: string[] | undefined, test: (v: string) => boolean): boolean => !values || values.length === 0 || values.some(test);
  return any(filters.name, (v) => network.Name.includes(v)) && any(filters.id, (v) => network.Id.startsWith(v))
    && any(filters.driver, (v) => v === network.Driver) && any(filters.label, () => false);
}

function matches(record: NetworkRecord, filters: NetworkFilters): boolean {
  const any = (values: string[] | undefined, test: (v: string) => boolean): boolean => !values || values.length === 0 || values.some(test);
  return any(filters.name, (v) => record.name.includes(v))
    && any(filters.id, (v) => record.id.startsWith(v))
    && any(filters.driver, (v) => v === record.driver)
    && any(filters.label, (v) => {
      const [key, ...rest] = v.split('=');
      return rest.length === 0 ? key! in record.labels : record.labels[key!] === rest.join('=');
    });
}

export async function listNetworks(root: string, filters: NetworkFilters = {}): Promise<DockerNetwork[]> {
  const [records, table] = await Promise.all([listNetworkRecords(root), readAttachments(root)]);
  const builtins = BUILTIN_NETWORKS.map((n) => builtinNetwork(n.name, n.driver)).filter((n) => matchesBuiltin(n, filters));
  return [...records.filter((r) => !RESERVED_NETWORKS.has(r.name) && matches(r, filters)).map((r) => toDocker(r, table)), ...builtins];
}

export async function inspectNetwork(root: string, ref: string): Promise<DockerNetwork> {
  const builtin = BUILTIN_NETWORKS.some((n) => n.name === ref) ? findBuiltinNetwork(ref) : undefined;
  if (builtin) return builtin;
  try {
    return toDocker(await findNetwork(root, ref), await readAttachments(root));
  } catch (err) {
    const byId = err instanceof BuildError && err.code === 'NETWORK_NOT_FOUND' ? findBuiltinNetwork(ref) : undefined;
    if (byId) return byId;
    throw err;
  }
}

export async function createNetwork(root: string, options: CreateNetworkOptions): Promise<{ Id: string; Warning: string }> {
  const record = await createNetworkRecord(root, options);
  return { Id: record.id, Warning: '' };
}

/** Refuses the default network and networks with containers (docker's "has active endpoints"). */
export async function removeNetwork(root: string, ref: string): Promise<void> {
  const builtin = findBuiltinNetwork(ref);
  if (builtin && (builtin.Name === ref || builtin.Id === ref)) throw new BuildError('CONFLICT', `${builtin.Name} is a pre-defined network and cannot be removed`);
  const record = await findNetwork(root, ref);
  if (record.name === DEFAULT_NETWORK || RESERVED_NETWORKS.has(record.name)) {
    throw new BuildError('CONFLICT', `${record.name} is a pre-defined network and cannot be removed`);
  }
  await withFileLock(networkLockPath(root), async () => {
    const users = usersOf(await readAttachments(root), record.id);
    if (users.length > 0) {
      throw new BuildError('CONFLICT', `error while removing network: network ${record.name} id ${record.id} has active endpoints (${users.map((u) => u.name || u.containerId.slice(0, 12)).join(', ')})`);
    }
    await deleteNetworkRecord(root, record.name);
  });
}

/** Removes every user network no container is on; returns their names (docker's NetworksDeleted). */
export async function pruneNetworks(root: string, filters: NetworkFilters = {}): Promise<{ NetworksDeleted: string[] }> {
  const deleted: string[] = [];
  const records = await listNetworkRecords(root);
  await withFileLock(networkLockPath(root), async () => {
    const table = await readAttachments(root);
    for (const record of records) {
      if (record.name === DEFAULT_NETWORK || RESERVED_NETWORKS.has(record.name) || !matches(record, filters)) continue;
      if (usersOf(table, record.id).length > 0) continue;
      await deleteNetworkRecord(root, record.name);
      deleted.push(record.name);
    }
  });
  return { NetworksDeleted: deleted };
}
