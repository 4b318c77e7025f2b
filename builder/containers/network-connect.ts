/**
 * `network connect` / `network disconnect` of one container, as moby does them: the change is recorded in the
 * container's NetworkingConfig (so it survives a stop and a restart, and a created container can be connected
 * before its first start: docker-compose connects its services that way), and a running container also joins or
 * leaves the network in its namespace (builder/network's netavark attachment). Called under the container's lock.
 */
import { BuildError } from '../errors.js';
import type { EndpointSettings } from './docker-types.js';
import { readState, writeRecord, writeState, type ContainerPaths, type ContainerRecord } from './record.js';
import { configuredNetworks, openNetworking, primaryNetwork } from './resources.js';
import { observe } from './truth.js';

/** A network as the API found it (by name or id). */
export interface NetworkRef {
  id: string;
  name: string;
}

function sameNetwork(name: string, network: NetworkRef): boolean {
  return name === network.name || name === network.id || (name.length >= 12 && network.id.startsWith(name));
}

function withEndpoints(record: ContainerRecord, endpoints: Record<string, EndpointSettings>): ContainerRecord {
  return { ...record, networkingConfig: { ...(record.networkingConfig ?? {}), EndpointsConfig: endpoints } };
}

async function liveState(paths: ContainerPaths) {
  const state = await observe(paths, await readState(paths));
  const live = state.attachment !== undefined && (state.status === 'running' || state.status === 'paused');
  return { state, live };
}

export async function connectContainer(root: string, paths: ContainerPaths, record: ContainerRecord, network: NetworkRef, aliases: string[]): Promise<void> {
  if (primaryNetwork(record) === undefined) {
    throw new BuildError('CONFLICT', `container sharing network namespace with another container or host cannot be connected to any other network`);
  }
  const { state, live } = await liveState(paths);
  if (live) {
    const networking = (await openNetworking(root))!;
    await networking.connect(record.id, { network: network.id, aliases, name: record.name });
    // inspect reads the state's attachment: keep it what netavark now has.
    const attachment = await networking.inspect(record.id);
    if (attachment) await writeState(paths, { ...state, attachment });
  } else if (configuredNetworks(record).some((name) => sameNetwork(name, network))) {
    throw new BuildError('CONFLICT', `endpoint with name ${record.name} already exists in network ${network.name}`);
  }
  if (sameNetwork(primaryNetwork(record)!, network)) return;
  const endpoints = { ...(record.networkingConfig?.EndpointsConfig ?? {}), [network.name]: { Aliases: aliases } };
  await writeRecord(paths, withEndpoints(record, endpoints));
}

export async function disconnectContainer(root: string, paths: ContainerPaths, record: ContainerRecord, network: NetworkRef): Promise<void> {
  const { state, live } = await liveState(paths);
  const primary = primaryNetwork(record);
  const isPrimary = primary !== undefined && sameNetwork(primary, network);
  if (live) {
    const networking = (await openNetworking(root))!;
    await networking.disconnect(record.id, network.id);
    const attachment = await networking.inspect(record.id);
    await writeState(paths, { ...state, ...(attachment ? { attachment } : {}) });
  } else if (isPrimary) {
    // The NetworkMode network is joined at every start; a stopped container has no other way to leave it.
    throw new BuildError('CONFLICT', `container ${record.id.slice(0, 12)} is not running: it cannot leave its NetworkMode network ${network.name} (it is joined at every start); recreate it with another --network`);
  } else if (!configuredNetworks(record).some((name) => sameNetwork(name, network))) {
    throw new BuildError('CONFLICT', `container ${record.id.slice(0, 12)} is not connected to network ${network.name}`);
  }
  const endpoints = Object.fromEntries(Object.entries(record.networkingConfig?.EndpointsConfig ?? {})
    .filter(([name]) => isPrimary || !sameNetwork(name, network)));
  if (Object.keys(endpoints).length !== Object.keys(record.networkingConfig?.EndpointsConfig ?? {}).length) {
    await writeRecord(paths, withEndpoints(record, endpoints));
  }
}
