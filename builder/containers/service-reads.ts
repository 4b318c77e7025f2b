/**
 * The container service's reads: lookup, `ps`, inspect, diff, export, logs, top, stats and `cp` out. The lifecycle
 * (service.ts) and exec (service-exec.ts) build on this class; nothing here takes a container's lock.
 */
import { BuildError } from '../errors.js';
import type {
  ContainerInspect, ContainerSummary, ListOptions, LogEntry, LogsOptions, PathStat, StatsResponse, TopResponse,
} from './docker-types.js';
import { checkFilters, matchesFilters } from './filters.js';
import { inspectContainer, summarize } from './inspect.js';
import { readLogs } from './logs.js';
import { lookupContainer } from './lookup.js';
import { ContainerPaths, listIds, readRecord, readState, type ContainerRecord } from './record.js';
import { isActive } from './state.js';
import { logMayGrow, observe } from './truth.js';
import { readUpper, sizesOf, type FilesystemChange } from './changes.js';
import path from 'node:path';
import type { Readable } from 'node:stream';
import type { ResolvedMount } from '../volume/types.js';

export abstract class ContainerReads {
  readonly containersDir: string;
  protected constructor(readonly root: string) {
    this.containersDir = path.join(root, 'containers');
  }

  /** Brings `--restart always|unless-stopped` containers back after a reboot; every lookup runs it first. */
  abstract reviveAfterReboot(): Promise<string[]>;

  /** Resolves a reference to the container's id, paths and record. */
  async find(ref: string): Promise<{ paths: ContainerPaths; record: ContainerRecord }> {
    await this.reviveAfterReboot();
    const id = await lookupContainer(this.containersDir, ref);
    const paths = new ContainerPaths(this.containersDir, id);
    const record = await readRecord(paths);
    if (!record) throw new BuildError('CONTAINER_NOT_FOUND', `No such container: ${ref}`);
    return { paths, record };
  }

  /** GET /containers/json: running ones unless `all`, newest first, docker's filters. */
  async list(options: ListOptions = {}): Promise<ContainerSummary[]> {
    const filters = { ...(options.filters ?? {}) };
    checkFilters(filters);
    await this.reviveAfterReboot();
    // before=/since= name containers: compared by creation time, as dockerd (an unknown one is its 404).
    for (const key of ['before', 'since'] as const) {
      if (filters[key]) filters[key] = await Promise.all(filters[key]!.map(async (ref) => (await this.find(ref)).record.created));
    }
    // `ps -n N` / `-l` list every state (dockerd: a limit implies all).
    const all = options.all === true || (options.limit ?? 0) > 0;
    const ids = await listIds(this.containersDir);
    const rows = await Promise.all(ids.map(async (id) => {
      const paths = new ContainerPaths(this.containersDir, id);
      const record = await readRecord(paths).catch(() => undefined);
      if (!record) return undefined;
      const state = await observe(paths, await readState(paths));
      if (!all && !isActive(state.status) && !filters.status) return undefined;
      if (!matchesFilters(record, state, filters)) return undefined;
      return { created: record.created, summary: options.size ? { ...summarize(record, state), ...(await sizesOf(record)) } : summarize(record, state) };
    }));
    // Newest first by the record's millisecond time: Created (seconds) ties for containers made in one second.
    const summaries = rows.filter((row) => row !== undefined)
      .sort((a, b) => (a.created < b.created ? 1 : a.created > b.created ? -1 : a.summary.Id.localeCompare(b.summary.Id))).map((row) => row.summary);
    return options.limit && options.limit > 0 ? summaries.slice(0, options.limit) : summaries;
  }

  /** `size`: also SizeRw and SizeRootFs (`inspect --size`), a walk of the upperdir. */
  async inspect(ref: string, options: { size?: boolean } = {}): Promise<ContainerInspect> {
    const { paths, record } = await this.find(ref);
    const inspected = inspectContainer(paths, record, await observe(paths, await readState(paths)));
    return options.size ? { ...inspected, ...(await sizesOf(record)) } : inspected;
  }

  /** GET /containers/{id}/changes (`docker diff`): changes.ts. */
  async changes(ref: string): Promise<FilesystemChange[]> {
    const { record } = await this.find(ref);
    return (await readUpper(path.join(record.rootfsDir, 'upper'), record.lowerdirs)).changes;
  }

  /** GET /containers/{id}/export: the whole filesystem as a tar (export.ts). */
  async export(ref: string): Promise<Readable> {
    const { exportContainer } = await import('./export.js');
    return exportContainer((await this.find(ref)).record);
  }

  /** Log lines in order; with `follow` the iterable ends when the container stops (or `signal` aborts). */
  async *logs(ref: string, options: LogsOptions = {}): AsyncIterable<LogEntry> {
    const { paths } = await this.find(ref);
    yield* readLogs(paths.log, options, () => this.logMayGrow(paths));
  }

  /** Whether `paths`' log may still grow (truth.ts logMayGrow); false once the container is gone. */
  async logMayGrow(paths: ContainerPaths): Promise<boolean> {
    const state = await readState(paths).catch(() => undefined);
    return state !== undefined && logMayGrow(paths, state);
  }

  async top(ref: string, psArgs?: string): Promise<TopResponse> {
    const { top } = await import('./top.js');
    const { paths, record } = await this.find(ref);
    return top(paths, record, await observe(paths, await readState(paths)), psArgs);
  }

  async stats(ref: string): Promise<StatsResponse> {
    const { stats } = await import('./top.js');
    const { paths, record } = await this.find(ref);
    return stats(record, await observe(paths, await readState(paths)));
  }

  async archiveStat(ref: string, containerPath: string): Promise<PathStat> {
    const { archiveStat } = await import('./archive.js');
    const { paths, record } = await this.find(ref);
    return archiveStat(record, containerPath, await this.mountsOf(paths));
  }

  /** GET /containers/{id}/archive: a tar of `path` (resolved inside the container's rootfs, links never followed out). */
  async archiveGet(ref: string, containerPath: string): Promise<{ stat: PathStat; tar: NodeJS.ReadableStream }> {
    const { archiveGet } = await import('./archive.js');
    const { paths, record } = await this.find(ref);
    return archiveGet(record, containerPath, await this.mountsOf(paths));
  }

  /** The volumes and binds of the container's current or last run (what `cp` sees besides the rootfs). */
  async mountsOf(paths: ContainerPaths): Promise<ResolvedMount[]> {
    return (await readState(paths).catch(() => undefined))?.mounts ?? [];
  }
}
