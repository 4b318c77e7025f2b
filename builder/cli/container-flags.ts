import { readFileSync } from 'node:fs';
import path from 'node:path';
import { type Command } from 'commander';
import type { ContainerCreateBody, HealthConfig, MountBody, PortMap, RestartPolicy } from '../containers/docker-types.js';
import { BuildError } from '../errors.js';
import { parsePositiveInt, parseSize } from './options.js';
import { parseCpus } from './run.js';

const collect = (value: string, previous: string[]): string[] => [...previous, value];

/** docker run/create flags after commander. */
export interface CreateFlags {
  detach?: boolean; name?: string; rm?: boolean; interactive?: boolean; tty?: boolean;
  publish: string[]; publishAll?: boolean; network?: string; networkAlias: string[];
  volume: string[]; mount: string[]; restart?: string; stopSignal?: string; stopTimeout?: string;
  healthCmd?: string; healthInterval?: string; healthRetries?: string; healthTimeout?: string; healthStartPeriod?: string;
  healthcheck?: boolean; hostname?: string; addHost: string[]; env: string[]; envFile: string[]; label: string[];
  readOnly?: boolean; capAdd: string[]; capDrop: string[]; cpus?: string; memory?: string; pidsLimit?: string;
  init?: boolean; privileged?: boolean; securityOpt: string[]; entrypoint?: string; workdir?: string; user?: string;
  dns: string[];
}

/** The flags `create` and `run` share, with docker's names. */
export function addCreateFlags(command: Command): Command {
  return command
    .helpOption('--help', 'display help for command')
    .option('--name <name>', 'container name')
    .option('--rm', 'remove the container when it exits')
    .option('-i, --interactive', 'keep stdin open')
    .option('-t, --tty', 'allocate a terminal')
    .option('-e, --env <K=V>', 'set an environment variable; repeatable', collect, [])
    .option('--env-file <file>', 'read environment variables from a file; repeatable', collect, [])
    .option('-l, --label <k=v>', 'set a label; repeatable', collect, [])
    .option('-v, --volume <spec>', 'bind mount /host:/ctr[:ro] or volume NAME:/ctr[:ro]; repeatable', collect, [])
    .option('--mount <spec>', 'type=bind|volume|tmpfs,source=…,target=…[,readonly]; repeatable', collect, [])
    .option('-p, --publish <spec>', 'publish [IP:][HOST:]CONTAINER[/proto]; repeatable', collect, [])
    .option('-P, --publish-all', 'publish every EXPOSEd port on a free host port')
    .option('--network <mode>', 'host, none, bridge or a network name')
    .option('--network-alias <alias>', 'DNS alias on the network; repeatable', collect, [])
    .option('--dns <ip>', 'DNS server; repeatable', collect, [])
    .option('--add-host <host:ip>', 'add a line to /etc/hosts; repeatable', collect, [])
    .option('-h, --hostname <name>', 'container host name')
    .option('--restart <policy>', 'no, always, unless-stopped, on-failure[:max-retries]')
    .option('--stop-signal <signal>', 'signal that stops the container (default SIGTERM)')
    .option('--stop-timeout <seconds>', 'seconds to wait before SIGKILL on stop (default 10)')
    .option('--health-cmd <cmd>', 'command to check health')
    .option('--health-interval <duration>', 'time between checks (e.g. 30s)')
    .option('--health-timeout <duration>', 'maximum time a check may take')
    .option('--health-start-period <duration>', 'grace period before failures count')
    .option('--health-retries <n>', 'failures in a row before unhealthy')
    .option('--no-healthcheck', 'disable the image\'s HEALTHCHECK')
    .option('--read-only', 'mount the root filesystem read-only')
    .option('--cap-add <cap>', 'add a Linux capability; repeatable', collect, [])
    .option('--cap-drop <cap>', 'drop a Linux capability; repeatable', collect, [])
    .option('--privileged', 'every capability this machine allows, no seccomp, unmasked /proc and /sys')
    .option('--security-opt <opt>', 'seccomp=unconfined|PROFILE.json, no-new-privileges[=false]; repeatable', collect, [])
    .option('--cpus <n>', 'number of CPUs')
    .option('-m, --memory <size>', 'memory limit (e.g. 512m)')
    .option('--pids-limit <n>', 'process limit')
    .option('--init', 'run an init (tini) as pid 1 that reaps zombies and forwards signals')
    .option('--entrypoint <cmd>', 'override the entrypoint')
    .option('-w, --workdir <dir>', 'working directory')
    .option('-u, --user <user>', 'user[:group]');
}

/** Go durations as the docker CLI takes them (`1m30s`, `500ms`) → nanoseconds. */
export function parseDuration(text: string | undefined, flag: string): number | undefined {
  if (text === undefined) return undefined;
  const units: Record<string, number> = { ns: 1, us: 1e3, µs: 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };
  const parts = [...text.matchAll(/(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g)];
  if (parts.length === 0 || parts.map((part) => part[0]).join('') !== text) {
    throw new BuildError('INVALID_ARGUMENT', `invalid argument "${text}" for "${flag}" flag: time: invalid duration "${text}"`);
  }
  return Math.round(parts.reduce((sum, part) => sum + Number(part[1]) * units[part[2]!]!, 0));
}

/** `[IP:][HOST:]CONTAINER[/proto]`, HOST may be a range start only; IPv6 in brackets. */
export function parsePublishFlag(spec: string, ports: PortMap, exposed: Record<string, Record<string, never>>): void {
  const invalid = (): BuildError => new BuildError('INVALID_ARGUMENT', `invalid argument "${spec}" for "-p, --publish" flag: expected [IP:][HOST:]CONTAINER[/tcp|udp]`);
  const [address = '', proto = 'tcp', ...rest] = spec.split('/');
  if (rest.length > 0 || (proto !== 'tcp' && proto !== 'udp')) throw invalid();
  const match = /^(?:(\[[0-9a-fA-F:]+\]|[0-9.]+):)?(?:(\d*):)?(\d+)$/.exec(address);
  if (!match) throw invalid();
  const [, ip = '', host = '', container = ''] = match;
  const check = (port: string): void => { if (port !== '' && (Number(port) < 1 || Number(port) > 65535)) throw invalid(); };
  check(host); check(container);
  const key = `${Number(container)}/${proto}`;
  exposed[key] = {};
  (ports[key] ??= []).push({ HostIp: ip.replace(/^\[|\]$/g, ''), HostPort: host });
}

/** `--mount type=bind,source=/x,target=/y,readonly` → HostConfig.Mounts entry. */
export function parseMountFlag(spec: string): MountBody {
  const fields = new Map<string, string>();
  for (const part of spec.split(',')) {
    const at = part.indexOf('=');
    fields.set((at < 0 ? part : part.slice(0, at)).trim().toLowerCase(), at < 0 ? 'true' : part.slice(at + 1));
  }
  const type = fields.get('type') ?? 'volume';
  if (type !== 'bind' && type !== 'volume' && type !== 'tmpfs') throw new BuildError('INVALID_ARGUMENT', `invalid argument "${spec}" for "--mount" flag: unknown mount type "${type}"`);
  const target = fields.get('target') ?? fields.get('destination') ?? fields.get('dst');
  if (!target || !target.startsWith('/')) throw new BuildError('INVALID_ARGUMENT', `invalid argument "${spec}" for "--mount" flag: target must be an absolute path`);
  const source = fields.get('source') ?? fields.get('src');
  if (type === 'bind' && (!source || !path.isAbsolute(source))) {
    throw new BuildError('INVALID_ARGUMENT', `invalid argument "${spec}" for "--mount" flag: a bind mount needs an absolute source`);
  }
  const readonly = ['true', '1'].includes(fields.get('readonly') ?? fields.get('ro') ?? 'false');
  const size = fields.get('tmpfs-size');
  return {
    Type: type, Target: target, ...(source ? { Source: source } : {}), ReadOnly: readonly,
    ...(type === 'volume' && fields.has('volume-nocopy') ? { VolumeOptions: { NoCopy: true } } : {}),
    ...(type === 'tmpfs' && size ? { TmpfsOptions: { SizeBytes: parseSize(size) } } : {}),
  };
}

/** `-v` syntax check (docker's errors); named volumes pass through to the volume stack. */
function checkVolumeFlag(spec: string): void {
  const parts = spec.split(':');
  const invalid = (why: string): BuildError => new BuildError('INVALID_ARGUMENT', `invalid argument "${spec}" for "-v, --volume" flag: ${why}`);
  if (parts.length === 1) {
    if (!spec.startsWith('/')) throw invalid('a lone path must be an absolute container path');
    return;
  }
  if (parts.length > 3 || parts[0] === '' || parts[1] === '') throw invalid('expected SOURCE:/container/path[:ro|rw]');
  if (!parts[1]!.startsWith('/')) throw invalid(`mount path "${parts[1]}" must be absolute`);
  for (const option of (parts[2] ?? '').split(',').filter(Boolean)) {
    if (!['ro', 'rw', 'nocopy', 'z', 'Z', 'rprivate', 'private', 'rshared', 'shared', 'rslave', 'slave'].includes(option)) throw invalid(`invalid mode "${option}"`);
  }
  if (!parts[0]!.startsWith('/') && !/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(parts[0]!)) throw invalid(`"${parts[0]}" is neither an absolute host path nor a volume name`);
}

function parseRestart(text: string | undefined): RestartPolicy | undefined {
  if (text === undefined) return undefined;
  const [name = '', count] = text.split(':');
  if (!['no', 'always', 'unless-stopped', 'on-failure'].includes(name) || (count !== undefined && (name !== 'on-failure' || !/^\d+$/.test(count)))) {
    throw new BuildError('INVALID_ARGUMENT', `invalid restart policy '${text}': use no, always, unless-stopped or on-failure[:max-retries]`);
  }
  return { Name: name as RestartPolicy['Name'], MaximumRetryCount: count ? Number(count) : 0 };
}

function envFileLines(file: string): string[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new BuildError('INVALID_ARGUMENT', `open ${file}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or directory' : (err as Error).message}`);
  }
  return text.split('\n').map((line) => line.trim()).filter((line) => line !== '' && !line.startsWith('#'));
}

function healthConfig(flags: CreateFlags): HealthConfig | undefined {
  if (flags.healthcheck === false) {
    if (flags.healthCmd) throw new BuildError('INVALID_ARGUMENT', '--no-healthcheck conflicts with --health-* options');
    return { Test: ['NONE'] };
  }
  const health: HealthConfig = {
    ...(flags.healthCmd ? { Test: ['CMD-SHELL', flags.healthCmd] } : {}),
    ...(flags.healthInterval ? { Interval: parseDuration(flags.healthInterval, '--health-interval') } : {}),
    ...(flags.healthTimeout ? { Timeout: parseDuration(flags.healthTimeout, '--health-timeout') } : {}),
    ...(flags.healthStartPeriod ? { StartPeriod: parseDuration(flags.healthStartPeriod, '--health-start-period') } : {}),
    ...(flags.healthRetries ? { Retries: parsePositiveInt(flags.healthRetries, '--health-retries') } : {}),
  };
  return Object.keys(health).length > 0 ? health : undefined;
}

/** What the docker CLI sends to POST /containers/create for these flags. */
export function createBody(image: string, command: string[], flags: CreateFlags, hostEnv: NodeJS.ProcessEnv = process.env): ContainerCreateBody {
  const ports: PortMap = {};
  const exposed: Record<string, Record<string, never>> = {};
  for (const spec of flags.publish) parsePublishFlag(spec, ports, exposed);
  for (const spec of flags.volume) checkVolumeFlag(spec);
  const env = [...flags.envFile.flatMap(envFileLines), ...flags.env].flatMap((entry) => {
    if (entry.startsWith('=')) throw new BuildError('INVALID_ARGUMENT', `invalid environment variable: ${entry}`);
    if (entry.includes('=')) return [entry];
    const value = hostEnv[entry];
    return value === undefined ? [] : [`${entry}=${value}`];
  });
  const labels = Object.fromEntries(flags.label.map((label) => {
    const at = label.indexOf('=');
    return at < 0 ? [label, ''] : [label.slice(0, at), label.slice(at + 1)];
  }));
  const stopTimeout = flags.stopTimeout === undefined ? undefined : Number(flags.stopTimeout);
  if (stopTimeout !== undefined && !Number.isInteger(stopTimeout)) throw new BuildError('INVALID_ARGUMENT', `invalid argument "${flags.stopTimeout}" for "--stop-timeout" flag`);
  const network = flags.network ?? 'default';
  const cpus = parseCpus(flags.cpus);
  const volumes = Object.fromEntries(flags.volume.filter((spec) => !spec.includes(':')).map((spec) => [spec, {}]));
  return {
    Image: image, Hostname: flags.hostname ?? '', User: flags.user ?? '', Tty: flags.tty === true, OpenStdin: flags.interactive === true,
    AttachStdin: flags.interactive === true && !flags.detach, AttachStdout: !flags.detach, AttachStderr: !flags.detach,
    Env: env, ...(command.length > 0 ? { Cmd: command } : {}),
    ...(flags.entrypoint !== undefined ? { Entrypoint: flags.entrypoint === '' ? [''] : [flags.entrypoint] } : {}),
    WorkingDir: flags.workdir ?? '', Labels: labels, ExposedPorts: exposed, Volumes: volumes,
    ...(flags.stopSignal ? { StopSignal: flags.stopSignal } : {}), ...(stopTimeout !== undefined ? { StopTimeout: stopTimeout } : {}),
    ...(healthConfig(flags) ? { Healthcheck: healthConfig(flags) } : {}),
    HostConfig: {
      Binds: flags.volume.filter((spec) => spec.includes(':')), Mounts: flags.mount.map(parseMountFlag), NetworkMode: network,
      PortBindings: ports, PublishAllPorts: flags.publishAll === true, RestartPolicy: parseRestart(flags.restart) ?? { Name: 'no', MaximumRetryCount: 0 },
      AutoRemove: flags.rm === true, CapAdd: flags.capAdd, CapDrop: flags.capDrop, Privileged: flags.privileged === true,
      ReadonlyRootfs: flags.readOnly === true, Init: flags.init === true, ExtraHosts: flags.addHost, Dns: flags.dns,
      SecurityOpt: flags.securityOpt, Memory: parseSize(flags.memory) ?? 0, NanoCpus: cpus ? Math.round(cpus * 1e9) : 0,
      PidsLimit: parsePositiveInt(flags.pidsLimit, '--pids-limit') ?? null,
    },
    NetworkingConfig: flags.networkAlias.length > 0 && network !== 'default'
      ? { EndpointsConfig: { [network]: { Aliases: flags.networkAlias } } } : undefined,
  };
}
