import { existsSync } from 'node:fs';
import os from 'node:os';
import { BuildError } from '../errors.js';
import { containerCapabilities } from '../sandbox/capabilities.js';
import { parseSecurityOpts } from '../sandbox/security-opt.js';
import { parseVolumeFlag } from '../volume/parse-mount.js';
import type { HostConfig } from './docker-types.js';
import { tmpfsRequest } from './resources.js';

const RESTART_POLICIES = ['', 'no', 'always', 'unless-stopped', 'on-failure'];
/** go-units' ulimit names (RLIMIT_<NAME> in the runtime spec). */
const ULIMIT_NAMES = new Set(['as', 'core', 'cpu', 'data', 'fsize', 'locks', 'memlock', 'msgqueue', 'nice', 'nofile', 'nproc', 'rss', 'rtprio', 'rttime', 'sigpending', 'stack']);

/** Docker's checks of a HostConfig before anything is made; returns docker's warnings. */
export function checkHostConfig(hostConfig: HostConfig): string[] {
  const warnings: string[] = [];
  const policy = hostConfig.RestartPolicy?.Name ?? '';
  if (!RESTART_POLICIES.includes(policy)) {
    throw new BuildError('INVALID_ARGUMENT', `invalid restart policy '${policy}': use no, always, unless-stopped or on-failure[:max-retries]`);
  }
  const retries = hostConfig.RestartPolicy?.MaximumRetryCount ?? 0;
  if (retries < 0) throw new BuildError('INVALID_ARGUMENT', 'invalid restart policy: maximum retry count cannot be negative');
  if (retries > 0 && policy !== 'on-failure') {
    throw new BuildError('INVALID_ARGUMENT', `invalid restart policy: maximum retry count can only be used with 'on-failure'`);
  }
  if (hostConfig.AutoRemove && policy !== '' && policy !== 'no') {
    throw new BuildError('INVALID_ARGUMENT', 'Conflicting options: --restart and --rm');
  }
  if (hostConfig.Memory !== undefined && hostConfig.Memory !== 0 && hostConfig.Memory < 6 * 1024 * 1024) {
    throw new BuildError('INVALID_ARGUMENT', 'Minimum memory limit allowed is 6MB');
  }
  // moby's verifyPlatformContainerResources, in its order and words.
  const memory = hostConfig.Memory ?? 0;
  const swap = hostConfig.MemorySwap ?? 0;
  if (memory > 0 && swap > 0 && swap < memory) {
    throw new BuildError('INVALID_ARGUMENT', 'Minimum memoryswap limit should be larger than memory limit, see usage');
  }
  if (memory === 0 && swap > 0) throw new BuildError('INVALID_ARGUMENT', 'You should always set the Memory limit when using Memoryswap limit, see usage');
  const reservation = hostConfig.MemoryReservation ?? 0;
  if (reservation !== 0 && reservation < 6 * 1024 * 1024) throw new BuildError('INVALID_ARGUMENT', 'Minimum memory reservation allowed is 6MB');
  if (memory > 0 && reservation > 0 && memory < reservation) {
    throw new BuildError('INVALID_ARGUMENT', 'Minimum memory limit can not be less than memory reservation limit, see usage');
  }
  if (hostConfig.OomKillDisable === true && memory === 0) {
    warnings.push('OOM killer is disabled for the container, but no memory limit is set, this can result in the system running out of resources.');
  }
  const cpus = os.cpus().length;
  if (hostConfig.NanoCpus !== undefined && (hostConfig.NanoCpus < 0 || hostConfig.NanoCpus > cpus * 1e9)) {
    throw new BuildError('INVALID_ARGUMENT', `range of CPUs is from 0.01 to ${cpus}.00, as there are only ${cpus} CPUs available`);
  }
  if (hostConfig.CpuShares !== undefined && hostConfig.CpuShares < 0) {
    throw new BuildError('INVALID_ARGUMENT', `invalid CPU shares (${hostConfig.CpuShares}): value must be a positive integer`);
  }
  if ((hostConfig.ShmSize ?? 0) < 0) throw new BuildError('INVALID_ARGUMENT', 'SHM size can not be less than 0');
  for (const limit of hostConfig.Ulimits ?? []) {
    if (!ULIMIT_NAMES.has(limit.Name)) throw new BuildError('INVALID_ARGUMENT', `invalid ulimit type: ${limit.Name}`);
    if (limit.Soft > limit.Hard) throw new BuildError('INVALID_ARGUMENT', `ulimit soft limit must be less than or equal to hard limit: ${limit.Soft} > ${limit.Hard}`);
  }
  for (const host of hostConfig.ExtraHosts ?? []) {
    const at = host.indexOf(':');
    if (at <= 0 || at === host.length - 1) throw new BuildError('INVALID_ARGUMENT', `invalid argument "${host}" for "--add-host" flag: expected HOST:IP`);
  }
  // The log is conmon's file, served by /logs as json-file's is; another driver would be a silent drop.
  const logDriver = hostConfig.LogConfig?.Type ?? '';
  if (!['', 'json-file', 'k8s-file', 'local'].includes(logDriver)) {
    throw new BuildError('NOT_SUPPORTED', `logging driver "${logDriver}" is not supported: containers log to a file that logs reads (json-file)`);
  }
  // Checked now, not at start, so a bad value leaves no container behind.
  containerCapabilities(parseSecurityOpts(hostConfig.SecurityOpt ?? [], {
    capAdd: hostConfig.CapAdd ?? [], capDrop: hostConfig.CapDrop ?? [], privileged: hostConfig.Privileged === true,
  }));
  // A bad --tmpfs option is refused at create, not at the first start.
  for (const [target, options] of Object.entries(hostConfig.Tmpfs ?? {})) tmpfsRequest(target, options);
  // -v (Binds) creates a missing host directory, as docker; --mount does not.
  for (const bind of hostConfig.Binds ?? []) parseVolumeFlag(bind);
  for (const mount of hostConfig.Mounts ?? []) {
    if (mount.Type === 'bind' && !existsSync(mount.Source ?? '')) {
      throw new BuildError('INVALID_ARGUMENT', `invalid mount config for type "bind": bind source path does not exist: ${mount.Source ?? ''}`);
    }
  }
  const mode = hostConfig.NetworkMode ?? '';
  if (mode.startsWith('container:')) throw new BuildError('NOT_SUPPORTED', '--network container:NAME is not supported by builder');
  return warnings;
}
