/**
 * The Docker Engine API (v1.43–1.47) shapes the container service speaks, so `builder daemon` is a thin
 * layer over it and the CLI translates docker-run flags into the same ContainerCreate body the docker CLI
 * sends. Field names and casing are exactly the API's; only the subset builder implements is typed.
 */
import type { Healthcheck } from '../image/types.js';

/** Config.Healthcheck: the image config's shape (`Test` `["NONE"]` disables, `["CMD", …]`, `["CMD-SHELL", cmd]`; durations in ns). */
export type HealthConfig = Healthcheck;

/** `Config` of ContainerCreate and ContainerInspect. */
export interface ContainerConfigBody {
  Hostname?: string;
  Domainname?: string;
  User?: string;
  AttachStdin?: boolean;
  AttachStdout?: boolean;
  AttachStderr?: boolean;
  /** `"80/tcp": {}`. */
  ExposedPorts?: Record<string, Record<string, never>>;
  Tty?: boolean;
  OpenStdin?: boolean;
  StdinOnce?: boolean;
  Env?: string[];
  Cmd?: string[] | null;
  Healthcheck?: HealthConfig;
  ArgsEscaped?: boolean;
  Image?: string;
  Volumes?: Record<string, Record<string, never>>;
  WorkingDir?: string;
  Entrypoint?: string[] | null;
  NetworkDisabled?: boolean;
  Labels?: Record<string, string>;
  StopSignal?: string;
  /** Seconds. */
  StopTimeout?: number;
}

export interface PortBindingBody {
  HostIp?: string;
  HostPort?: string;
}
/** `"80/tcp": [{ HostIp, HostPort }]`. */
export type PortMap = Record<string, PortBindingBody[] | null>;

export interface RestartPolicy {
  Name?: '' | 'no' | 'always' | 'unless-stopped' | 'on-failure';
  MaximumRetryCount?: number;
}

/** HostConfig.Mounts[] (`--mount`). */
export interface MountBody {
  Target: string;
  Source?: string;
  Type: 'bind' | 'volume' | 'tmpfs';
  ReadOnly?: boolean;
  BindOptions?: { Propagation?: string; NonRecursive?: boolean };
  VolumeOptions?: { NoCopy?: boolean; Labels?: Record<string, string> };
  TmpfsOptions?: { SizeBytes?: number; Mode?: number };
}

export interface HostConfig {
  /** `-v` strings: `/host:/ctr[:ro]`, `name:/ctr[:ro,nocopy]`. */
  Binds?: string[] | null;
  ContainerIDFile?: string;
  LogConfig?: { Type: string; Config?: Record<string, string> };
  /** `host`, `none`, `bridge`, `default` or a network name. */
  NetworkMode?: string;
  PortBindings?: PortMap;
  RestartPolicy?: RestartPolicy;
  AutoRemove?: boolean;
  VolumeDriver?: string;
  VolumesFrom?: string[] | null;
  Mounts?: MountBody[];
  CapAdd?: string[] | null;
  CapDrop?: string[] | null;
  Dns?: string[];
  DnsOptions?: string[];
  DnsSearch?: string[];
  /** `host:ip`. */
  ExtraHosts?: string[] | null;
  GroupAdd?: string[] | null;
  IpcMode?: string;
  Runtime?: string;
  CgroupnsMode?: string;
  PidMode?: string;
  Privileged?: boolean;
  PublishAllPorts?: boolean;
  ReadonlyRootfs?: boolean;
  SecurityOpt?: string[] | null;
  Tmpfs?: Record<string, string>;
  UTSMode?: string;
  ShmSize?: number;
  Init?: boolean | null;
  /** Bytes; 0 = unlimited. */
  Memory?: number;
  MemorySwap?: number;
  /** CPU quota in units of 1e-9 CPUs. */
  NanoCpus?: number;
  CpuShares?: number;
  PidsLimit?: number | null;
  MemoryReservation?: number;
  OomKillDisable?: boolean | null;
  /** `--ulimit nofile=1024:2048`. */
  Ulimits?: { Name: string; Soft: number; Hard: number }[] | null;
  /** `--device /dev/x[:/dev/y[:rwm]]`. */
  Devices?: { PathOnHost: string; PathInContainer: string; CgroupPermissions: string }[] | null;
}

export interface EndpointSettings {
  IPAMConfig?: { IPv4Address?: string } | null;
  Links?: string[] | null;
  Aliases?: string[] | null;
  MacAddress?: string;
  NetworkID?: string;
  EndpointID?: string;
  Gateway?: string;
  IPAddress?: string;
  IPPrefixLen?: number;
  IPv6Gateway?: string;
  GlobalIPv6Address?: string;
  GlobalIPv6PrefixLen?: number;
  DNSNames?: string[] | null;
}

export interface NetworkingConfig {
  EndpointsConfig?: Record<string, EndpointSettings>;
}

/** POST /containers/create body. */
export interface ContainerCreateBody extends ContainerConfigBody {
  Image: string;
  HostConfig?: HostConfig;
  NetworkingConfig?: NetworkingConfig;
}

export interface ContainerCreateResponse {
  Id: string;
  Warnings: string[];
}

/** Docker's container states (State.Status). */
export type ContainerStatus = 'created' | 'running' | 'paused' | 'restarting' | 'removing' | 'exited' | 'dead';

export interface HealthLogEntry {
  Start: string;
  End: string;
  ExitCode: number;
  Output: string;
}

export interface HealthState {
  Status: 'starting' | 'healthy' | 'unhealthy' | 'none';
  FailingStreak: number;
  Log: HealthLogEntry[];
}

export interface ContainerState {
  Status: ContainerStatus;
  Running: boolean;
  Paused: boolean;
  Restarting: boolean;
  OOMKilled: boolean;
  Dead: boolean;
  Pid: number;
  ExitCode: number;
  Error: string;
  StartedAt: string;
  FinishedAt: string;
  Health?: HealthState;
}

/** Mounts[] of ContainerInspect and ContainerSummary. */
export interface MountPoint {
  Type: 'bind' | 'volume' | 'tmpfs';
  Name?: string;
  Source: string;
  Destination: string;
  Driver?: string;
  Mode: string;
  RW: boolean;
  Propagation: string;
}

export interface NetworkSettings {
  Bridge: string;
  SandboxID: string;
  SandboxKey: string;
  Ports: PortMap;
  Gateway: string;
  IPAddress: string;
  IPPrefixLen: number;
  MacAddress: string;
  Networks: Record<string, EndpointSettings>;
}

/** GET /containers/{id}/json. */
export interface ContainerInspect {
  Id: string;
  Created: string;
  Path: string;
  Args: string[];
  State: ContainerState;
  /** The image's config digest (`sha256:…`), as docker. */
  Image: string;
  ResolvConfPath: string;
  HostnamePath: string;
  HostsPath: string;
  LogPath: string;
  /** With docker's leading slash: `/web`. */
  Name: string;
  RestartCount: number;
  Driver: string;
  Platform: string;
  MountLabel: string;
  ProcessLabel: string;
  AppArmorProfile: string;
  HostConfig: HostConfig;
  GraphDriver: { Name: string; Data: Record<string, string> };
  Mounts: MountPoint[];
  Config: ContainerConfigBody;
  NetworkSettings: NetworkSettings;
  /** With `size=1` only: bytes the container wrote, and those plus its image's. */
  SizeRw?: number;
  SizeRootFs?: number;
}

/** Ports[] of ContainerSummary. */
export interface PortSummary {
  IP?: string;
  PrivatePort: number;
  PublicPort?: number;
  Type: 'tcp' | 'udp';
}

/** GET /containers/json items (and `ps`). */
export interface ContainerSummary {
  Id: string;
  Names: string[];
  Image: string;
  ImageID: string;
  Command: string;
  /** Unix seconds. */
  Created: number;
  Ports: PortSummary[];
  Labels: Record<string, string>;
  State: ContainerStatus;
  /** `Up 3 minutes (healthy)`, `Exited (137) 2 seconds ago`, `Created`. */
  Status: string;
  HostConfig: { NetworkMode: string };
  NetworkSettings: { Networks: Record<string, EndpointSettings> };
  Mounts: MountPoint[];
  /** With `size=1` only (`ps -s`). */
  SizeRw?: number;
  SizeRootFs?: number;
}

/** `filters` of GET /containers/json: `{"status":["running"],"name":["web"]}`. */
export type ListFilters = Record<string, string[]>;

export interface ListOptions {
  all?: boolean;
  limit?: number;
  filters?: ListFilters;
  /** Compute SizeRw/SizeRootFs (`ps -s`): a walk of every listed container's upperdir. */
  size?: boolean;
}

export type WaitCondition = 'not-running' | 'next-exit' | 'removed';

export interface WaitResponse {
  StatusCode: number;
  Error?: { Message: string } | null;
}

export interface RemoveOptions {
  force?: boolean;
  /** Also remove anonymous volumes (`rm -v`). */
  volumes?: boolean;
}

export interface LogsOptions {
  follow?: boolean;
  stdout?: boolean;
  stderr?: boolean;
  /** Unix seconds (fractional allowed). */
  since?: number;
  until?: number;
  timestamps?: boolean;
  /** Number of lines from the end, or 'all'. */
  tail?: number | 'all';
  signal?: AbortSignal;
  /** Yield a partial line (conmon's `P` entries: a prompt, typed characters echoed by a pty) as soon as it is logged. */
  partial?: boolean;
  /** Start at this byte of the log (an attach to an exited container waits for its next run: older runs' lines are not its). */
  fromOffset?: number;
}

/** One log line as stored: stream, RFC 3339 nano time, the line with its newline. */
export interface LogEntry {
  stream: 'stdout' | 'stderr';
  time: string;
  line: string;
}

/** GET /containers/{id}/top. */
export interface TopResponse {
  Titles: string[];
  Processes: string[][];
}

/** The subset of GET /containers/{id}/stats?stream=false that builder fills. */
export interface StatsResponse {
  read: string;
  id: string;
  name: string;
  pids_stats: { current?: number; limit?: number };
  cpu_stats: { cpu_usage: { total_usage: number }; system_cpu_usage?: number; online_cpus?: number };
  precpu_stats: { cpu_usage: { total_usage: number }; system_cpu_usage?: number; online_cpus?: number };
  memory_stats: { usage?: number; limit?: number; stats?: Record<string, number> };
  networks?: Record<string, { rx_bytes: number; tx_bytes: number }>;
  blkio_stats?: { io_service_bytes_recursive: { major: number; minor: number; op: string; value: number }[] | null };
}

/** POST /containers/{id}/exec body. */
export interface ExecCreateBody {
  AttachStdin?: boolean;
  AttachStdout?: boolean;
  AttachStderr?: boolean;
  Tty?: boolean;
  Env?: string[];
  Cmd: string[];
  Privileged?: boolean;
  User?: string;
  WorkingDir?: string;
  /** [rows, columns] of the pty at start (API 1.42+; the docker CLI sends its terminal's size with -t). */
  ConsoleSize?: [number, number] | null;
}

/** GET /exec/{id}/json. */
export interface ExecInspect {
  ID: string;
  Running: boolean;
  ExitCode: number | null;
  ProcessConfig: { tty: boolean; entrypoint: string; arguments: string[]; privileged: boolean; user: string };
  OpenStdin: boolean;
  OpenStderr: boolean;
  OpenStdout: boolean;
  ContainerID: string;
  Pid: number;
}

/** Where exec's and attach's stdio go. Streams are Node streams; the daemon gives sockets, the CLI process.std*. */
export interface ExecStdio {
  stdin?: NodeJS.ReadableStream;
  stdout?: NodeJS.WritableStream;
  stderr?: NodeJS.WritableStream;
}

/** X-Docker-Container-Path-Stat header of the archive endpoints. */
export interface PathStat {
  name: string;
  size: number;
  mode: number;
  mtime: string;
  linkTarget: string;
}

export interface PruneResponse {
  ContainersDeleted: string[];
  SpaceReclaimed: number;
}
