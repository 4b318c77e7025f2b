import { readFileSync } from 'node:fs';
import type { ContainerCreateBody, HealthConfig, MountBody, PortMap, RestartPolicy } from '../containers/docker-types.js';
import { BuildError } from '../errors.js';
import { parsePublish } from '../network/parse-publish.js';
import { parseMountFlag, parseVolumeFlag } from '../volume/parse-mount.js';
import { parsePositiveInt, parseSize } from './options.js';
import type { CreateFlags } from './container-flag-defs.js';
import { parseCpus } from './options.js';

export type { CreateFlags };


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

/** `-p` through the network stack's parser, into the API's PortBindings / ExposedPorts (as the docker CLI sends them). */
function addPublish(spec: string, ports: PortMap, exposed: Record<string, Record<string, never>>): void {
  for (const binding of parsePublish(spec)) {
    const key = `${binding.containerPort}/${binding.protocol}`;
    exposed[key] = {};
    const hostPort = binding.hostPort === 0 ? '' : binding.hostPortEnd ? `${binding.hostPort}-${binding.hostPortEnd}` : String(binding.hostPort);
    const explicitIp = spec.startsWith('[') || spec.split('/')[0]!.split(':').length === 3;
    (ports[key] ??= []).push({ HostIp: explicitIp ? binding.hostIp : '', HostPort: hostPort });
  }
}

/** `--mount` through the volume stack's parser, as HostConfig.Mounts. */
function mountBody(spec: string): MountBody {
  const request = parseMountFlag(spec);
  const size = request.options?.find((option) => option.startsWith('size='));
  const mode = request.options?.find((option) => option.startsWith('mode='));
  return {
    Type: request.type, Target: request.target, ...(request.source ? { Source: request.source } : {}), ReadOnly: request.readonly,
    ...(request.nocopy ? { VolumeOptions: { NoCopy: true } } : {}),
    ...(request.type === 'bind' && request.options ? { BindOptions: { Propagation: request.options[0] } } : {}),
    ...(request.type === 'tmpfs' && (size || mode) ? {
      TmpfsOptions: { ...(size ? { SizeBytes: Number(size.slice(5)) } : {}), ...(mode ? { Mode: parseInt(mode.slice(5), 8) } : {}) },
    } : {}),
  };
}

export function parseRestart(text: string | undefined): RestartPolicy | undefined {
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
  for (const spec of flags.publish) addPublish(spec, ports, exposed);
  // Validated here (docker's errors before anything is made); the strings travel in Binds as the docker CLI sends them.
  const volumeRequests = flags.volume.map((spec) => ({ spec, request: parseVolumeFlag(spec) }));
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
  const volumes = Object.fromEntries(volumeRequests.filter(({ request }) => request.source === undefined).map(({ request }) => [request.target, {}]));
  return {
    Image: image, Hostname: flags.hostname ?? '', User: flags.user ?? '', Tty: flags.tty === true, OpenStdin: flags.interactive === true,
    AttachStdin: flags.interactive === true && !flags.detach, AttachStdout: !flags.detach, AttachStderr: !flags.detach,
    StdinOnce: flags.interactive === true && !flags.detach,
    Env: env, ...(command.length > 0 ? { Cmd: command } : {}),
    ...(flags.entrypoint !== undefined ? { Entrypoint: flags.entrypoint === '' ? [''] : [flags.entrypoint] } : {}),
    WorkingDir: flags.workdir ?? '', Labels: labels, ExposedPorts: exposed, Volumes: volumes,
    ...(flags.stopSignal ? { StopSignal: flags.stopSignal } : {}), ...(stopTimeout !== undefined ? { StopTimeout: stopTimeout } : {}),
    ...(healthConfig(flags) ? { Healthcheck: healthConfig(flags) } : {}),
    HostConfig: {
      Binds: volumeRequests.filter(({ request }) => request.source !== undefined).map(({ spec, request }) => (request.type === 'bind' ? spec.replace(/^[^:]+/, request.source!) : spec)),
      Mounts: flags.mount.map(mountBody), NetworkMode: network,
      PortBindings: ports, PublishAllPorts: flags.publishAll === true, RestartPolicy: parseRestart(flags.restart) ?? { Name: 'no', MaximumRetryCount: 0 },
      AutoRemove: flags.rm === true, CapAdd: flags.capAdd, CapDrop: flags.capDrop, Privileged: flags.privileged === true,
      ReadonlyRootfs: flags.readOnly === true, Init: flags.init === true, ExtraHosts: flags.addHost, Dns: flags.dns,
      SecurityOpt: flags.securityOpt, Memory: parseSize(flags.memory) ?? 0, NanoCpus: cpus ? Math.round(cpus * 1e9) : 0,
      PidsLimit: parsePositiveInt(flags.pidsLimit, '--pids-limit') ?? null,
      // docker's `--tmpfs /dir[:opts]` (the options are checked with the rest of the HostConfig).
      ...(flags.tmpfs && flags.tmpfs.length > 0 ? { Tmpfs: Object.fromEntries(flags.tmpfs.map((spec) => [spec.split(':')[0]!, spec.split(':').slice(1).join(':')])) } : {}),
    },
    NetworkingConfig: flags.networkAlias.length > 0 && network !== 'default'
      ? { EndpointsConfig: { [network]: { Aliases: flags.networkAlias } } } : undefined,
  };
}
