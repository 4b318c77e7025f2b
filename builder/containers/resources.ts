import { stat } from 'node:fs/promises';
import path from 'node:path';
import { BuildError } from '../errors.js';
import type { Attachment, ContainerNetworking } from '../network/types.js';
import type { SandboxMount } from '../sandbox/spec.js';
import type { MountRequest, ResolvedMount, VolumeManager } from '../volume/types.js';
import { parseVolumeFlag } from '../volume/parse-mount.js';
import type { MountPoint } from './docker-types.js';
import { lookupContainer } from './lookup.js';
import { ContainerPaths, readState, type ContainerRecord } from './record.js';

/**
 * The network and volume stacks (builder/network, builder/volume) are imported on first use: host/none
 * networking and bind/tmpfs mounts need neither. Literal specifiers, so the CLI bundle (scripts/build-cli.ts)
 * holds them and there is one copy of every module.
 */
export const openNetworking = async (root: string): Promise<ContainerNetworking | undefined> =>
  (await import('../network/index.js')).openNetworking(root);
export const openVolumes = async (root: string): Promise<VolumeManager | undefined> =>
  (await import('../volume/index.js')).openVolumes(root);

/** What the runtime spec gets for a network mode. */
export type NetworkPlan = { kind: 'host' | 'none' } | { kind: 'bridge'; networks: string[] };

/** `default` is docker's bridge; until builder/network is present it keeps today's host networking. */
export async function planNetwork(root: string, record: ContainerRecord): Promise<NetworkPlan> {
  const mode = record.hostConfig.NetworkMode || 'default';
  if (mode === 'host' || mode === 'none') return { kind: mode };
  const networking = await openNetworking(root);
  if (!networking) {
    if (mode === 'default') return { kind: 'host' };
    throw new BuildError('NOT_SUPPORTED', `--network ${mode}: bridge networks are not available in this build of builder; use --network host or none`);
  }
  return { kind: 'bridge', networks: configuredNetworks(record) };
}

/** The NetworkMode's network as builder/network names it (`default` is docker's `bridge`); undefined for host and none. */
export function primaryNetwork(record: ContainerRecord): string | undefined {
  const mode = record.hostConfig.NetworkMode || 'default';
  if (mode === 'host' || mode === 'none') return undefined;
  return mode === 'default' ? 'bridge' : mode;
}

/** The networks the next start joins, the primary first (what planNetwork attaches). */
export function configuredNetworks(record: ContainerRecord): string[] {
  const primary = primaryNetwork(record);
  if (primary === undefined) return [];
  const mode = record.hostConfig.NetworkMode || 'default';
  const extra = Object.keys(record.networkingConfig?.EndpointsConfig ?? {}).filter((name) => name !== mode && name !== primary);
  return record.leftNetworkMode ? extra : [primary, ...extra];
}

export async function attachNetwork(root: string, record: ContainerRecord, plan: NetworkPlan, ports: import('../network/types.js').PortBinding[]): Promise<Attachment | undefined> {
  if (plan.kind !== 'bridge') return undefined;
  const networking = (await openNetworking(root))!;
  const endpoints = plan.networks.map((network) => ({
    network, aliases: record.networkingConfig?.EndpointsConfig?.[network]?.Aliases ?? [],
  }));
  return networking.attach({ containerId: record.id, name: record.name, hostname: record.config.Hostname ?? record.id.slice(0, 12), endpoints, ports });
}

/**
 * `--add-host name:host-gateway`: moby's special value is the default bridge's gateway (the host's address on it);
 * without the network stack there is none to name (moby: `unable to derive the IP value for host-gateway`).
 */
export async function resolveExtraHosts(root: string, extraHosts: string[]): Promise<string[]> {
  if (!extraHosts.some((entry) => entry.endsWith(':host-gateway'))) return extraHosts;
  let gateway: string | undefined;
  if (await openNetworking(root)) {
    const { ensureDefaultNetwork } = await import('../network/network-record.js');
    await ensureDefaultNetwork(root);
    gateway = (await (await import('../network/index.js')).inspectNetwork(root, 'bridge')).IPAM.Config[0]?.Gateway;
  }
  if (!gateway) throw new BuildError('INVALID_ARGUMENT', 'unable to derive the IP value for host-gateway');
  return extraHosts.map((entry) => entry.endsWith(':host-gateway') ? `${entry.slice(0, -'host-gateway'.length)}${gateway}` : entry);
}

export async function detachNetwork(root: string, id: string): Promise<void> {
  const networking = await openNetworking(root);
  await networking?.detach(id);
}

/** Binds and --mount entries of the record as contract requests (the image's VOLUMEs as anonymous volumes). */
export function mountRequests(record: ContainerRecord): MountRequest[] {
  const requests: MountRequest[] = [];
  for (const bind of record.hostConfig.Binds ?? []) requests.push(parseVolumeFlag(bind));
  for (const mount of record.hostConfig.Mounts ?? []) {
    requests.push({
      type: mount.Type, source: mount.Source || undefined, target: mount.Target, readonly: mount.ReadOnly === true,
      nocopy: mount.VolumeOptions?.NoCopy === true,
      options: mount.Type === 'tmpfs' ? tmpfsOptions(mount.TmpfsOptions) : mount.BindOptions?.Propagation ? [mount.BindOptions.Propagation] : undefined,
    });
  }
  for (const [target, options] of Object.entries(record.hostConfig.Tmpfs ?? {})) requests.push(tmpfsRequest(target, options));
  const explicit = new Set(requests.map((request) => request.target));
  for (const target of Object.keys(record.config.Volumes ?? {})) {
    if (!explicit.has(target)) requests.push({ type: 'volume', target, readonly: false });
  }
  return requests;
}

/**
 * `--tmpfs /dir[:opts]` (HostConfig.Tmpfs): docker's defaults are noexec, nosuid and nodev, which `exec`, `suid`
 * and `dev` lift; `ro` makes it read-only; size=, mode=, uid=, gid=, nr_inodes= go to the mount as given.
 */
export function tmpfsRequest(target: string, options: string): MountRequest {
  const given = options.split(',').map((option) => option.trim()).filter(Boolean);
  const defaults = new Set(['noexec', 'nosuid', 'nodev']);
  const passed: string[] = [];
  let readonly = false;
  for (const option of given) {
    if (option === 'ro') readonly = true;
    else if (option === 'rw') readonly = false;
    else if (['exec', 'suid', 'dev'].includes(option)) defaults.delete(`no${option}`);
    else if (['noexec', 'nosuid', 'nodev'].includes(option)) defaults.add(option);
    else if (/^(size|mode|uid|gid|nr_inodes|nr_blocks)=[0-9A-Za-z%]+$/.test(option)) passed.push(option);
    else throw new BuildError('INVALID_ARGUMENT', `invalid tmpfs option "${option}" for ${target}`);
  }
  if (!target.startsWith('/')) throw new BuildError('INVALID_ARGUMENT', `invalid mount path for --tmpfs: "${target}" must be absolute`);
  return { type: 'tmpfs', target, readonly, options: [...defaults, ...passed] };
}

function tmpfsOptions(options: { SizeBytes?: number; Mode?: number } | undefined): string[] {
  return [
    ...(options?.SizeBytes ? [`size=${options.SizeBytes}`] : []),
    ...(options?.Mode ? [`mode=${options.Mode.toString(8)}`] : []),
  ];
}

/**
 * `--volumes-from ref[:ro|rw]`: the other container's volumes and binds (not its tmpfs) at the same targets, read-only
 * or read-write as given, else as they are there; never over a target this container mounts itself (moby's order).
 * The source's resolved mounts are read from its state (made at its create when it has volumes).
 */
async function volumesFromRequests(containersDir: string, record: ContainerRecord, explicit: Set<string>): Promise<MountRequest[]> {
  const requests: MountRequest[] = [];
  for (const entry of record.hostConfig.VolumesFrom ?? []) {
    const [ref, mode] = entry.split(':') as [string, string | undefined];
    const id = await lookupContainer(containersDir, ref);
    const state = await readState(new ContainerPaths(containersDir, id));
    for (const mount of state.mounts ?? []) {
      if (mount.type !== 'bind' || explicit.has(mount.target) || requests.some((r) => r.target === mount.target)) continue;
      requests.push({
        type: mount.volumeName ? 'volume' : 'bind', source: mount.volumeName ?? mount.source, target: mount.target, nocopy: true,
        readonly: mode === 'ro' ? true : mode === 'rw' ? false : mount.readonly,
      });
    }
  }
  return requests;
}

/** `--volumes-from` entries are `ref`, `ref:ro` or `ref:rw`, and ref must name a container (checked at create, as moby). */
export async function checkVolumesFrom(containersDir: string, volumesFrom: string[]): Promise<void> {
  for (const entry of volumesFrom) {
    const [ref, mode, ...rest] = entry.split(':');
    if (!ref || rest.length > 0 || (mode !== undefined && mode !== 'ro' && mode !== 'rw')) {
      throw new BuildError('INVALID_ARGUMENT', `invalid volumes-from: ${entry}`);
    }
    // A 400, not the lookup's 404: the docker CLI takes a 404 from create for a missing image and pulls it.
    await lookupContainer(containersDir, ref).catch((err: unknown) => {
      if (err instanceof BuildError && err.code === 'CONTAINER_NOT_FOUND') throw new BuildError('INVALID_ARGUMENT', err.message);
      throw err;
    });
  }
}

/** Whether the container has volumes to make (so its create makes them: `cp` into one, `--volumes-from` it). */
export function hasVolumes(record: ContainerRecord): boolean {
  return (record.hostConfig.VolumesFrom ?? []).length > 0 || mountRequests(record).some((request) => request.type === 'volume');
}

/**
 * Resolves mounts: binds and tmpfs here, volumes through builder/volume (anonymous VOLUMEs are skipped without it).
 * `previous` are the mounts an earlier create or start resolved: an anonymous volume is the same volume on every
 * start (it used to be a new, empty one each time).
 */
export async function resolveMounts(root: string, record: ContainerRecord, rootfs: string, previous: ResolvedMount[] = []): Promise<ResolvedMount[]> {
  const own = mountRequests(record).map((request): MountRequest => {
    if (request.type !== 'volume' || request.source !== undefined) return request;
    const kept = previous.find((mount) => mount.target === request.target && mount.volumeName && mount.anonymous);
    return kept ? { ...request, source: kept.volumeName } : request;
  });
  const explicit = new Set(own.filter((r) => !(r.type === 'volume' && r.source === undefined)).map((r) => r.target));
  const requests = [...own, ...await volumesFromRequests(path.join(root, 'containers'), record, explicit)];
  const volumes = await openVolumes(root);
  if (volumes) return volumes.prepare(record.id, requests, rootfs);
  const resolved: ResolvedMount[] = [];
  for (const request of requests) {
    if (request.type === 'volume') {
      if (request.source === undefined) continue;
      throw new BuildError('NOT_SUPPORTED', `volume "${request.source}": named volumes are not available in this build of builder; bind an absolute host path instead`);
    }
    if (request.type === 'bind') {
      if (!(await stat(request.source ?? '').then(() => true, () => false))) {
        throw new BuildError('INVALID_ARGUMENT', `invalid mount config: bind source path does not exist: ${request.source}`);
      }
      resolved.push({ type: 'bind', source: request.source!, target: request.target, readonly: request.readonly });
    } else {
      resolved.push({ type: 'tmpfs', source: 'tmpfs', target: request.target, readonly: request.readonly, options: request.options });
    }
  }
  return resolved;
}

export function toSandboxMounts(mounts: ResolvedMount[]): SandboxMount[] {
  return mounts.map((mount) => ({ type: mount.type, source: mount.source, target: mount.target, readonly: mount.readonly, options: mount.options }));
}

/** docker inspect's Mounts[]. */
export function mountPoints(mounts: ResolvedMount[] | undefined): MountPoint[] {
  return (mounts ?? []).map((mount) => ({
    Type: mount.volumeName ? 'volume' : mount.type, ...(mount.volumeName ? { Name: mount.volumeName, Driver: 'local' } : {}),
    Source: mount.source, Destination: mount.target, Mode: mount.readonly ? 'ro' : '', RW: !mount.readonly,
    Propagation: mount.type === 'bind' && !mount.volumeName ? 'rprivate' : '',
  }));
}
