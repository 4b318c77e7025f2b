/**
 * `docker update` (POST /containers/{id}/update): the restart policy and the resource limits. They are written
 * into the record (the next start uses them) and, for a running container, applied at once with `runc update`
 * (cgroup v1 here: memory, cpu shares/quota, pids). Fields we cannot apply are refused, never dropped.
 */
import { BuildError } from '../errors.js';
import type { HostConfig, RestartPolicy } from './docker-types.js';
import { checkHostConfig } from './host-config.js';
import { runc } from './monitor.js';
import { isActive } from './state.js';
import { readState, writeRecord, type ContainerPaths, type ContainerRecord } from './record.js';
import { observe } from './truth.js';

/** The body docker sends (resources at the top level, beside RestartPolicy). */
export interface UpdateBody {
  RestartPolicy?: RestartPolicy;
  Memory?: number;
  MemorySwap?: number;
  MemoryReservation?: number;
  NanoCpus?: number;
  CpuShares?: number;
  CpuPeriod?: number;
  CpuQuota?: number;
  CpusetCpus?: string;
  CpusetMems?: string;
  PidsLimit?: number | null;
  BlkioWeight?: number;
}

const CPU_PERIOD = 100_000;

/** runc update's flags for the resources the body sets (zero values are docker's "unchanged"). */
function runcFlags(body: UpdateBody): string[] {
  const flags: string[] = [];
  const add = (flag: string, value: number | string | undefined | null): void => {
    if (value !== undefined && value !== null && value !== 0 && value !== '') flags.push(`--${flag}`, String(value));
  };
  add('memory', body.Memory);
  add('memory-swap', body.MemorySwap);
  add('memory-reservation', body.MemoryReservation);
  add('cpu-shares', body.CpuShares);
  if (body.NanoCpus) {
    flags.push('--cpu-period', String(CPU_PERIOD), '--cpu-quota', String(Math.round((body.NanoCpus / 1e9) * CPU_PERIOD)));
  } else {
    add('cpu-period', body.CpuPeriod);
    add('cpu-quota', body.CpuQuota);
  }
  add('cpuset-cpus', body.CpusetCpus);
  add('cpuset-mems', body.CpusetMems);
  add('pids-limit', body.PidsLimit);
  add('blkio-weight', body.BlkioWeight);
  return flags;
}

/** Under the container's lock (the caller holds it). */
export async function updateContainer(paths: ContainerPaths, record: ContainerRecord, body: UpdateBody): Promise<{ Warnings: string[] }> {
  if (body.NanoCpus && (body.CpuPeriod || body.CpuQuota)) {
    throw new BuildError('INVALID_ARGUMENT', 'Conflicting options: Nano CPUs and CPU Period cannot both be set');
  }
  const restart = body.RestartPolicy?.Name ? body.RestartPolicy : undefined;
  if (restart && record.hostConfig.AutoRemove && restart.Name !== 'no') {
    throw new BuildError('INVALID_ARGUMENT', 'Restart policy cannot be updated because AutoRemove is enabled for the container');
  }
  const hostConfig: HostConfig = { ...record.hostConfig };
  if (restart) hostConfig.RestartPolicy = { Name: restart.Name, MaximumRetryCount: restart.MaximumRetryCount ?? 0 };
  if (body.Memory) hostConfig.Memory = body.Memory;
  if (body.MemorySwap) hostConfig.MemorySwap = body.MemorySwap;
  if (body.NanoCpus) hostConfig.NanoCpus = body.NanoCpus;
  if (body.CpuShares) hostConfig.CpuShares = body.CpuShares;
  if (body.PidsLimit) hostConfig.PidsLimit = body.PidsLimit;
  const warnings = checkHostConfig(hostConfig);
  const state = await observe(paths, await readState(paths));
  const flags = runcFlags(body);
  if (flags.length > 0 && isActive(state.status) && state.runtimeId) {
    try {
      await runc(['update', ...flags, state.runtimeId]);
    } catch (err) {
      throw new BuildError('INVALID_ARGUMENT', `Cannot update container ${record.id}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  await writeRecord(paths, { ...record, hostConfig });
  return { Warnings: warnings };
}
