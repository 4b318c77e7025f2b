import type {
  ContainerInspect, ContainerState, ContainerSummary, EndpointSettings, PortMap, PortSummary,
} from './docker-types.js';
import type { ContainerPaths, ContainerRecord, ContainerStateRecord } from './record.js';
import { ZERO_TIME } from './record.js';
import { configuredNetworks, mountPoints } from './resources.js';
import { isActive } from './state.js';
import { portBindings } from './ports.js';

/** docker's State object. */
export function dockerState(state: ContainerStateRecord): ContainerState {
  return {
    Status: state.status, Running: state.status === 'running' || state.status === 'paused',
    Paused: state.status === 'paused', Restarting: state.status === 'restarting', OOMKilled: false,
    Dead: state.status === 'dead', Pid: state.pid, ExitCode: state.exitCode, Error: state.error,
    StartedAt: state.startedAt || ZERO_TIME, FinishedAt: state.finishedAt || ZERO_TIME,
    ...(state.health ? { Health: state.health } : {}),
  };
}

/** NetworkSettings.Ports: the published ports while attached, else the requested bindings (docker shows both so). */
function portMap(record: ContainerRecord, state: ContainerStateRecord): PortMap {
  const ports: PortMap = {};
  // dockerd has no port map for a container without a network (`{}` in inspect, nothing in ps, no expose= match).
  if (record.hostConfig.NetworkMode === 'none') return ports;
  for (const key of Object.keys(record.config.ExposedPorts ?? {})) ports[key] = null;
  const published = state.attachment?.ports;
  if (published) {
    for (const port of published) {
      const key = `${port.containerPort}/${port.protocol}`;
      ports[key] = [...(ports[key] ?? []), { HostIp: port.hostIp, HostPort: String(port.hostPort) }];
    }
  }
  return ports;
}

/**
 * NetworkSettings.Networks: the live endpoints while attached, else the networks the next start joins (moby keeps
 * them on a created or stopped container, without addresses). On user networks moby adds the short id to the
 * aliases at connect; docker-compose looks for it to tell a container it set up from one it must reconnect.
 */
function networks(record: ContainerRecord, state: ContainerStateRecord): Record<string, EndpointSettings> {
  const result: Record<string, EndpointSettings> = {};
  const shortId = record.id.slice(0, 12);
  const withShortId = (network: string, aliases: string[]): string[] | null =>
    network === 'bridge' ? (aliases.length > 0 ? aliases : null) : aliases.includes(shortId) ? aliases : [...aliases, shortId];
  for (const endpoint of state.attachment?.endpoints ?? []) {
    result[endpoint.network] = {
      Aliases: withShortId(endpoint.network, endpoint.aliases), NetworkID: endpoint.networkId, EndpointID: endpoint.endpointId, Gateway: endpoint.gateway,
      IPAddress: endpoint.ipAddress, IPPrefixLen: endpoint.ipPrefixLen, MacAddress: endpoint.macAddress,
      DNSNames: [record.name, shortId, ...endpoint.aliases],
    };
  }
  const mode = record.hostConfig.NetworkMode;
  if (Object.keys(result).length === 0 && (mode === 'host' || mode === 'none')) {
    result[mode] = { NetworkID: mode, EndpointID: '', Gateway: '', IPAddress: '', IPPrefixLen: 0, MacAddress: '' };
  }
  if (!state.attachment && !isActive(state.status)) {
    const configured = record.networkingConfig?.EndpointsConfig ?? {};
    for (const network of configuredNetworks(record)) {
      const aliases = (configured[network] ?? (network === 'bridge' ? configured[mode ?? ''] : undefined))?.Aliases ?? [];
      result[network] = { Aliases: withShortId(network, aliases), NetworkID: '', EndpointID: '', Gateway: '', IPAddress: '', IPPrefixLen: 0, MacAddress: '' };
    }
  }
  return result;
}

export function inspectContainer(paths: ContainerPaths, record: ContainerRecord, state: ContainerStateRecord): ContainerInspect {
  const nets = networks(record, state);
  const first = Object.values(nets)[0];
  const bundle = paths.bundle;
  return {
    Id: record.id, Created: record.created, Path: record.path, Args: record.args, State: dockerState(state),
    Image: record.imageId, ResolvConfPath: `${bundle}/resolv.conf`, HostnamePath: `${bundle}/hostname`, HostsPath: `${bundle}/hosts`,
    LogPath: paths.log, Name: `/${record.name}`, RestartCount: state.restartCount, Driver: 'overlay', Platform: 'linux',
    MountLabel: '', ProcessLabel: '', AppArmorProfile: '',
    // dockerd's defaults for what we do not vary (private IPC, runc; the cgroup namespace of a cgroup v1 host).
    HostConfig: {
      ...record.hostConfig, IpcMode: record.hostConfig.IpcMode || 'private', Runtime: record.hostConfig.Runtime || 'runc',
      CgroupnsMode: record.hostConfig.CgroupnsMode || 'host',
    },
    GraphDriver: {
      Name: 'overlay',
      Data: { LowerDir: record.lowerdirs.join(':'), UpperDir: `${record.rootfsDir}/upper`, WorkDir: `${record.rootfsDir}/work`, MergedDir: `${record.rootfsDir}/merged` },
    },
    // An empty Entrypoint is `null` in dockerd's inspect (`{{json .Config.Entrypoint}}`), as the image's is.
    Mounts: mountPoints(state.mounts), Config: { ...record.config, Entrypoint: record.config.Entrypoint?.length ? record.config.Entrypoint : null },
    NetworkSettings: {
      Bridge: '', SandboxID: state.runtimeId ?? '', SandboxKey: state.attachment?.netnsPath ?? '', Ports: portMap(record, state),
      Gateway: first?.Gateway ?? '', IPAddress: first?.IPAddress ?? '', IPPrefixLen: first?.IPPrefixLen ?? 0,
      MacAddress: first?.MacAddress ?? '', Networks: nets,
    },
  };
}

/** go-units HumanDuration, which docker's STATUS and CREATED columns use. */
export function humanDuration(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  if (seconds < 1) return 'Less than a second';
  if (seconds === 1) return '1 second';
  if (seconds < 60) return `${seconds} seconds`;
  const minutes = Math.floor(ms / 60_000);
  if (minutes === 1) return 'About a minute';
  if (minutes < 60) return `${minutes} minutes`;
  const hours = Math.floor(ms / 3_600_000 + 0.5);
  if (hours === 1) return 'About an hour';
  if (hours < 48) return `${hours} hours`;
  if (hours < 24 * 7 * 2) return `${Math.floor(hours / 24)} days`;
  if (hours < 24 * 30 * 2) return `${Math.floor(hours / 24 / 7)} weeks`;
  if (hours < 24 * 365 * 2) return `${Math.floor(hours / 24 / 30)} months`;
  return `${Math.floor(hours / 24 / 365)} years`;
}

/** docker ps STATUS: `Up 3 minutes (healthy)`, `Up 2 seconds (Paused)`, `Exited (137) 2 seconds ago`, `Created`. */
export function statusText(state: ContainerStateRecord, now = Date.now()): string {
  switch (state.status) {
    case 'running':
    case 'paused': {
      const health = state.health?.Status === 'starting' ? ' (health: starting)'
        : state.health && state.health.Status !== 'none' ? ` (${state.health.Status})` : '';
      return `Up ${humanDuration(now - Date.parse(state.startedAt))}${state.status === 'paused' ? ' (Paused)' : health}`;
    }
    case 'restarting': return `Restarting (${state.exitCode}) ${humanDuration(now - Date.parse(state.finishedAt))} ago`;
    case 'removing': return 'Removal In Progress';
    case 'dead': return 'Dead';
    case 'created': return 'Created';
    default:
      return state.finishedAt === ZERO_TIME ? 'Exited' : `Exited (${state.exitCode}) ${humanDuration(now - Date.parse(state.finishedAt))} ago`;
  }
}

function portSummaries(record: ContainerRecord, state: ContainerStateRecord): PortSummary[] {
  if (record.hostConfig.NetworkMode === 'none') return [];
  if (state.attachment) {
    return state.attachment.ports.map((port) => ({ IP: port.hostIp, PrivatePort: port.containerPort, PublicPort: port.hostPort, Type: port.protocol }));
  }
  return portBindings(record).length === 0
    ? Object.keys(record.config.ExposedPorts ?? {}).map((key) => ({ PrivatePort: Number(key.split('/')[0]), Type: key.endsWith('/udp') ? 'udp' : 'tcp' }))
    : [];
}

export function summarize(record: ContainerRecord, state: ContainerStateRecord): ContainerSummary {
  return {
    Id: record.id, Names: [`/${record.name}`], Image: record.image, ImageID: record.imageId,
    Command: [record.path, ...record.args].join(' '), Created: Math.floor(Date.parse(record.created) / 1000),
    Ports: portSummaries(record, state), Labels: record.config.Labels ?? {}, State: state.status, Status: statusText(state),
    HostConfig: { NetworkMode: record.hostConfig.NetworkMode ?? 'default' },
    NetworkSettings: { Networks: networks(record, state) }, Mounts: mountPoints(state.mounts),
  };
}
