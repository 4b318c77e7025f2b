import { mkdirSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { writeSmallFileDurable } from '../store/atomic-write.js';
import { tryLock, withFileLock } from '../store/file-lock.js';
import type { Attachment } from '../network/types.js';
import type { ResolvedMount } from '../volume/types.js';
import type { ContainerConfigBody, ContainerStatus, HealthState, HostConfig, NetworkingConfig } from './docker-types.js';

/**
 * What `create` decided, in containers/<id>/container.json; it changes only on rename. `imageDigest` (the
 * manifest digest) is what GC reads to keep the image of a container (store/gc-scan.ts).
 */
export interface ContainerRecord {
  id: string;
  /** Without docker's leading slash. */
  name: string;
  created: string;
  /** The image reference as the user gave it (docker's Config.Image). */
  image: string;
  /** Manifest digest (GC key) and config digest (docker's Image / ImageID). */
  imageDigest: string;
  imageId: string;
  /** The merged config: image defaults with the create body's overrides. */
  config: ContainerConfigBody;
  hostConfig: HostConfig;
  networkingConfig?: NetworkingConfig;
  /** `network disconnect` of the NetworkMode network: the next starts do not join it (until a connect). */
  leftNetworkMode?: boolean;
  path: string;
  args: string[];
  /** The overlay mount dir (from snapshot/mount.ts prepareSnapshot) and its lowerdirs, bottom first. */
  rootfsDir: string;
  lowerdirs: string[];
}

/** What changes while the container lives, in containers/<id>/state.json. */
export interface ContainerStateRecord {
  status: ContainerStatus;
  pid: number;
  /** /proc/<pid>/stat start time of pid and of the monitor, so a reused pid is never mistaken for ours. */
  pidStart?: string;
  monitorPid?: number;
  monitorStart?: string;
  /** /proc/sys/kernel/random/boot_id at start: after a reboot nothing recorded runs. */
  bootId?: string;
  exitCode: number;
  error: string;
  startedAt: string;
  finishedAt: string;
  restartCount: number;
  /** Set by stop/kill from the user: restart policies leave such a container stopped. */
  stoppedByUser: boolean;
  /** runc container id of the current run (changes per start so a half-deleted run never blocks the next). */
  runtimeId?: string;
  health?: HealthState;
  attachment?: Attachment;
  mounts?: ResolvedMount[];
}

export const ZERO_TIME = '0001-01-01T00:00:00Z';

export function initialState(): ContainerStateRecord {
  return {
    status: 'created', pid: 0, exitCode: 0, error: '', startedAt: ZERO_TIME, finishedAt: ZERO_TIME,
    restartCount: 0, stoppedByUser: false,
  };
}

/** Paths of one container's files. */
export class ContainerPaths {
  constructor(readonly containersDir: string, readonly id: string) {}
  get dir(): string { return path.join(this.containersDir, this.id); }
  get record(): string { return path.join(this.dir, 'container.json'); }
  get state(): string { return path.join(this.dir, 'state.json'); }
  /** Outside the container's dir, so removing the dir never races a waiter creating the lock inside it. */
  get lock(): string { return path.join(this.containersDir, '.locks', `${this.id}.lock`); }
  get bundle(): string { return path.join(this.dir, 'bundle'); }
  get log(): string { return path.join(this.dir, 'ctr.log'); }
  get exitDir(): string { return path.join(this.dir, 'exits'); }
  get conmonPid(): string { return path.join(this.dir, 'conmon.pid'); }
  get execDir(): string { return path.join(this.dir, 'exec'); }
}

export async function readRecord(paths: ContainerPaths): Promise<ContainerRecord | undefined> {
  const text = await readFile(paths.record, 'utf8').catch(() => undefined);
  if (text === undefined || text === '') return undefined;
  const record = JSON.parse(text) as Partial<ContainerRecord>;
  // containers/ also holds `builder run` records of the foreground path, which have no config.
  return record.config && record.hostConfig ? record as ContainerRecord : undefined;
}

export async function readState(paths: ContainerPaths): Promise<ContainerStateRecord> {
  const text = await readFile(paths.state, 'utf8').catch(() => undefined);
  return text ? { ...initialState(), ...(JSON.parse(text) as Partial<ContainerStateRecord>) } : initialState();
}

/** Both writes are durable (fsync'd) and atomic; a few KB each, so all but the fsync is synchronous (atomic-write.ts). */
export async function writeRecord(paths: ContainerPaths, record: ContainerRecord): Promise<void> {
  await writeSmallFileDurable(paths.record, JSON.stringify(record, null, 2) + '\n');
}

export async function writeState(paths: ContainerPaths, state: ContainerStateRecord): Promise<void> {
  await writeSmallFileDurable(paths.state, JSON.stringify(state) + '\n');
}

/** One lock per container: every command that changes it runs under it, so commands on one container are serialized. */
export async function withContainerLock<T>(paths: ContainerPaths, fn: () => Promise<T>): Promise<T> {
  mkdirSync(path.dirname(paths.lock), { recursive: true });
  return withFileLock(paths.lock, fn);
}

/**
 * The container's lock, unless `giveUp()` says the wait is pointless first (polled while another command holds
 * it). The monitor's exit command uses it: an `rm` holding the lock waits for the monitor to end, and the
 * monitor ends only after its exit command, so that command must step aside instead of queueing behind rm.
 */
export async function withContainerLockUnless<T>(paths: ContainerPaths, giveUp: () => Promise<boolean>, fn: () => Promise<T>): Promise<T | undefined> {
  mkdirSync(path.dirname(paths.lock), { recursive: true });
  for (;;) {
    const held = await tryLock(paths.lock);
    if (held) {
      try {
        return await fn();
      } finally {
        await held.release();
      }
    }
    if (await giveUp()) return undefined;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** Ids of every directory under containers/ that holds a service record. */
export async function listIds(containersDir: string): Promise<string[]> {
  const entries = await readdir(containersDir).catch(() => [] as string[]);
  return entries.filter((entry) => /^[0-9a-f]{64}$/.test(entry));
}
