import { readFile } from 'node:fs/promises';
import { BuildError } from '../errors.js';
import type { StatsResponse, TopResponse } from './docker-types.js';
import { runc } from './monitor.js';
import type { ContainerPaths, ContainerRecord, ContainerStateRecord } from './record.js';

/** `top`: runc ps (ps -ef filtered to the container's cgroup), split into docker's Titles and Processes. */
export async function top(_paths: ContainerPaths, record: ContainerRecord, state: ContainerStateRecord, psArgs = '-ef'): Promise<TopResponse> {
  if (!state.runtimeId || (state.status !== 'running' && state.status !== 'paused')) {
    throw new BuildError('CONFLICT', `container ${record.name} is not running`);
  }
  // moby's validatePSArgs: only `pid` may name the PID column (`-o user=PID` would hide which column is the pid).
  for (const match of psArgs.matchAll(/\s+([^\s]*)=\s*(PID[^\s]*)/g)) {
    if (match[1] !== 'pid') throw new BuildError('INVALID_ARGUMENT', `specifying "${match[1]}=${match[2]}" is not allowed`);
  }
  const output = await runc(['ps', state.runtimeId, ...psArgs.split(/\s+/).filter(Boolean)]).catch((err: unknown) => {
    // runc ps wraps ps's stderr (`msg="exit status 1: error: unsupported option …\n…"`); dockerd says `ps: ` and its first line.
    const text = err instanceof Error ? err.message : String(err);
    const wrapped = /exit status \d+: (.*?)(?:\\n|")/.exec(text);
    if (wrapped) throw new BuildError('INTERNAL', `ps: ${wrapped[1]}`);
    throw err;
  });
  const lines = output.split('\n').filter((line) => line.trim() !== '');
  const titles = (lines[0] ?? '').trim().split(/\s+/);
  // The last column (CMD) may contain spaces: split into titles.length fields only.
  const processes = lines.slice(1).map((line) => {
    const fields = line.trim().split(/\s+/);
    return [...fields.slice(0, titles.length - 1), fields.slice(titles.length - 1).join(' ')];
  });
  return { Titles: titles, Processes: processes };
}

async function readNumber(file: string): Promise<number | undefined> {
  const text = await readFile(file, 'utf8').catch(() => undefined);
  const value = text === undefined ? NaN : Number(text.trim().split(/\s+/)[0]);
  return Number.isFinite(value) ? value : undefined;
}

async function cgroupFile(controller: string, runtimeId: string, file: string, v2File: string): Promise<number | undefined> {
  return (await readNumber(`/sys/fs/cgroup/${controller}/builder/${runtimeId}/${file}`))
    ?? readNumber(`/sys/fs/cgroup/builder/${runtimeId}/${v2File}`);
}

/** `stats --no-stream`: one sample of the cgroup's memory, CPU and pids (v1 here, v2 where mounted so). */
export async function stats(record: ContainerRecord, state: ContainerStateRecord): Promise<StatsResponse> {
  const id = state.runtimeId;
  const now = new Date().toISOString();
  const sample = async () => ({
    cpu: id ? ((await cgroupFile('cpuacct', id, 'cpuacct.usage', 'cpu.stat')) ?? 0) : 0,
    system: await systemCpuNs(),
  });
  const first = await sample();
  await new Promise((resolve) => setTimeout(resolve, 100));
  const second = await sample();
  const memory = id ? await cgroupFile('memory', id, 'memory.usage_in_bytes', 'memory.current') : undefined;
  const limit = id ? await cgroupFile('memory', id, 'memory.limit_in_bytes', 'memory.max') : undefined;
  const pids = id ? await cgroupFile('pids', id, 'pids.current', 'pids.current') : undefined;
  const pidsLimit = id ? await cgroupFile('pids', id, 'pids.max', 'pids.max') : undefined;
  const cpus = (await readFile('/proc/cpuinfo', 'utf8')).split('\n').filter((line) => line.startsWith('processor')).length;
  return {
    read: now, id: record.id, name: `/${record.name}`,
    pids_stats: { current: pids ?? 0, ...(pidsLimit ? { limit: pidsLimit } : {}) },
    cpu_stats: { cpu_usage: { total_usage: second.cpu }, system_cpu_usage: second.system, online_cpus: cpus },
    precpu_stats: { cpu_usage: { total_usage: first.cpu }, system_cpu_usage: first.system, online_cpus: cpus },
    memory_stats: { usage: memory ?? 0, limit: limit ?? 0 },
  };
}

/** /proc/stat's cpu line in nanoseconds, as docker's system_cpu_usage. */
async function systemCpuNs(): Promise<number> {
  const line = (await readFile('/proc/stat', 'utf8')).split('\n')[0] ?? '';
  const ticks = line.split(/\s+/).slice(1, 8).reduce((sum, value) => sum + Number(value || 0), 0);
  return ticks * 1e7;
}
