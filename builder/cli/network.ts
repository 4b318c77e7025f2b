/** The network commands' bodies: thin over builder/network's Docker-shaped functions. */
import { BuildError } from '../errors.js';
import { findAttached, readAttachments } from '../network/attachments.js';
import { createNetwork, inspectNetwork, listNetworks, openNetworking, pruneNetworks, removeNetwork } from '../network/index.js';
import { defaultRoot } from '../store/store.js';
import type { GlobalOptions } from './options.js';
import { formatTable, inspectEach, parseFilters, parseLabels, removeEach } from './table.js';

const rootOf = (global: GlobalOptions): string => global.root ?? defaultRoot();

export async function networkCreate(name: string, opts: { driver: string; subnet?: string; gateway?: string; internal?: boolean; label: string[] }, global: GlobalOptions): Promise<void> {
  if (opts.gateway && !opts.subnet) throw new BuildError('INVALID_ARGUMENT', 'every ip-range or gateway must have a corresponding subnet');
  const created = await createNetwork(rootOf(global), {
    name, driver: opts.driver, subnet: opts.subnet, gateway: opts.gateway, internal: opts.internal, labels: parseLabels(opts.label),
  });
  process.stdout.write(`${created.Id}\n`);
}

export async function networkLs(opts: { quiet?: boolean; filter: string[]; trunc: boolean }, global: GlobalOptions): Promise<void> {
  const networks = await listNetworks(rootOf(global), parseFilters(opts.filter, ['name', 'id', 'label', 'driver']));
  const id = (full: string): string => (opts.trunc ? full.slice(0, 12) : full);
  if (opts.quiet) {
    for (const network of networks) process.stdout.write(`${id(network.Id)}\n`);
    return;
  }
  process.stdout.write(formatTable([['NETWORK ID', 'NAME', 'DRIVER', 'SCOPE'], ...networks.map((n) => [id(n.Id), n.Name, n.Driver, n.Scope])]));
}

export async function networkInspect(names: string[], global: GlobalOptions): Promise<void> {
  await inspectEach(names, 'NETWORK_NOT_FOUND', (name) => inspectNetwork(rootOf(global), name));
}

export async function networkRm(names: string[], global: GlobalOptions): Promise<void> {
  await removeEach(names, (name) => removeNetwork(rootOf(global), name));
}

/**
 * A container of the containers service goes through it, as the daemon's /networks/{id}/connect does (a created or
 * stopped one is connected for its next start; containers/network-connect.ts); anything else attached (a
 * foreground `builder run`, which has no service record) is connected in its namespace only.
 */
async function serviceContainer(root: string, ref: string) {
  const { Containers } = await import('../containers/service.js');
  const service = await Containers.open(root);
  try {
    await service.find(ref);
    return service;
  } catch (err) {
    if (err instanceof BuildError && err.code === 'CONTAINER_NOT_FOUND') return undefined;
    throw err;
  }
}

async function networkRef(root: string, network: string): Promise<{ id: string; name: string }> {
  const found = await inspectNetwork(root, network);
  return { id: found.Id, name: found.Name };
}

export async function networkConnect(network: string, container: string, opts: { alias: string[] }, global: GlobalOptions): Promise<void> {
  const root = rootOf(global);
  const service = await serviceContainer(root, container);
  if (service) return service.connectNetwork(container, await networkRef(root, network), opts.alias);
  const record = findAttached(await readAttachments(root), container);
  await openNetworking(root).connect(record.containerId, { network, aliases: opts.alias, name: record.name });
}

export async function networkDisconnect(network: string, container: string, opts: { force?: boolean }, global: GlobalOptions): Promise<void> {
  const root = rootOf(global);
  const service = await serviceContainer(root, container);
  if (service) return service.disconnectNetwork(container, await networkRef(root, network));
  let record;
  try {
    record = findAttached(await readAttachments(root), container);
  } catch (err) {
    if (opts.force) return;
    throw err;
  }
  await openNetworking(root).disconnect(record.containerId, network);
}

export async function networkPrune(opts: { filter: string[] }, global: GlobalOptions): Promise<void> {
  const { NetworksDeleted } = await pruneNetworks(rootOf(global), parseFilters(opts.filter, ['label']));
  if (NetworksDeleted.length > 0) process.stdout.write(`Deleted Networks:\n${NetworksDeleted.map((n) => `${n}\n`).join('')}`);
}
