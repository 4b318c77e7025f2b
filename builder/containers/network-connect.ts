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

/** The record with the network's entry set (aliases) or dropped; the NetworkMode network is marked left or rejoined. */
function withNetwork(record: ContainerRecord, network: NetworkRef, aliases: string[] | undefined): ContainerRecord {
  const primary = primaryNetwork(record);
  const isPrimary = primary !== undefined && sameNetwork(primary, network);
  const key = isPrimary ? (record.hostConfig.NetworkMode && record.hostConfig.NetworkMode !== 'default' ? record.hostConfig.NetworkMode : 'bridge') : network.name;
  const endpoints = Object.fromEntries(Object.entries(record.networkingConfig?.EndpointsConfig ?? {})
    .filter(([name]) => !sameNetwork(name, network) && name !== key));
  if (aliases !== undefined) endpoints[key] = { Aliases: aliases };
  const { leftNetworkMode: _left, ...rest } = record;
  return {
    ...rest, networkingConfig: { ...(record.networkingConfig ?? {}), EndpointsConfig: endpoints },
    ...(isPrimary ? (aliases === undefined ? { leftNetworkMode: true } : {}) : record.leftNetworkMode ? { leftNetworkMode: true } : {}),
  };
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
  }
  // Not running: connecting again replaces the endpoint's settings, as dockerd does.
  await writeRecord(paths, withNetwork(record, network, aliases));
}

export async function disconnectContainer(root: string, paths: ContainerPaths, record: ContainerRecord, network: NetworkRef): Promise<void> {
  const { state, live } = await liveState(paths);
  if (live) {
    const networking = (await openNetworking(root))!;
    await networking.disconnect(record.id, network.id);
    const attachment = await networking.inspect(record.id);
    await writeState(paths, { ...state, ...(attachment ? { attachment } : {}) });
  } else if (!configuredNetworks(record).some((name) => sameNetwork(name, network))) {
    throw new BuildError('CONFLICT', `container ${record.id} is not connected to network ${network.name}`);
  }
  // The next start does not join it (not even the NetworkMode network, as dockerd).
  await writeRecord(paths, withNetwork(record, network, undefined));
}
