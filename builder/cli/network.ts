/** The network commands' bodies: thin over builder/network's Docker-shaped functions. */
import { BuildError } from '../errors.js';
import { findAttached, readAttachments } from '../network/attachments.js';
import { createNetwork, inspectNetwork, listNetworks, openNetworking, pruneNetworks, removeNetwork } from '../network/index.js';
import { defaultRoot } from '../store/store.js';
import type { GlobalOptions } from './options.js';
import { formatTable, parseFilters } from './table.js';

const rootOf = (global: GlobalOptions): string => global.root ?? defaultRoot();

function parseLabels(labels: string[]): Record<string, string> {
  return Object.fromEntries(labels.map((label) => {
    const eq = label.indexOf('=');
    return eq < 0 ? [label, ''] : [label.slice(0, eq), label.slice(eq + 1)];
  }));
}

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
  const found = [];
  let missing: BuildError | undefined;
  for (const name of names) {
    try {
      found.push(await inspectNetwork(rootOf(global), name));
    } catch (err) {
      if (!(err instanceof BuildError) || err.code !== 'NETWORK_NOT_FOUND') throw err;
      missing = err;
    }
  }
  // docker prints what it found, then fails for the rest.
  process.stdout.write(`${JSON.stringify(found, null, 4)}\n`);
  if (missing) throw missing;
}

/** Removes each network in turn, as docker: the ones that can go go, the first failure is reported. */
export async function networkRm(names: string[], global: GlobalOptions): Promise<void> {
  let failure: unknown;
  for (const name of names) {
    try {
      await removeNetwork(rootOf(global), name);
      process.stdout.write(`${name}\n`);
    } catch (err) {
      if (failure === undefined) failure = err;
      else process.stderr.write(`ERROR: ${(err as Error).message}\n`);
    }
  }
  if (failure !== undefined) throw failure;
}

export async function networkConnect(network: string, container: string, opts: { alias: string[] }, global: GlobalOptions): Promise<void> {
  const root = rootOf(global);
  const record = findAttached(await readAttachments(root), container);
  await openNetworking(root).connect(record.containerId, { network, aliases: opts.alias, name: record.name });
}

export async function networkDisconnect(network: string, container: string, opts: { force?: boolean }, global: GlobalOptions): Promise<void> {
  const root = rootOf(global);
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
