import { BuildError } from '../errors.js';
import { defaultRoot } from '../store/store.js';
import type {
  ContainerCreateBody, ContainerCreateResponse, ContainerInspect, ContainerSummary, ExecCreateBody, ExecInspect,
  ExecStdio, ListOptions, LogEntry, LogsOptions, PathStat, PruneResponse, RemoveOptions, StatsResponse, TopResponse,
  WaitCondition, WaitResponse,
} from './docker-types.js';
import { checkFilters, matchesFilters } from './filters.js';
import { inspectContainer, summarize } from './inspect.js';
import { readLogs } from './logs.js';
import { lookupContainer, releaseName, reserveName, validateName } from './lookup.js';
import {
  ContainerPaths, initialState, listIds, readRecord, readState, withContainerLock, writeRecord, writeState, type ContainerRecord,
  type ContainerStateRecord,
} from './record.js';
import { readExitFile } from './monitor.js';
import { checkTransition, isActive } from './state.js';
import { observe } from './truth.js';
import { DirChanges } from './dir-changes.js';
import { readUpper, sizesOf, type FilesystemChange } from './changes.js';
import type { CommitOptions } from './commit.js';
import type { UpdateBody } from './update.js';
import path from 'node:path';
import type { Readable } from 'node:stream';
import type { StdinBridge } from './attach-stdin.js';
import type { ResolvedMount } from '../volume/types.js';

// Loaded on first use: `ps`, `logs` and `inspect` need none of runc, overlay mounts or the store's image code.
const lifecycle = () => import('./lifecycle.js');
const starter = () => import('./start.js');
const callbacks = () => import('./monitor-callbacks.js');

/**
 * The container service: every container command of the CLI and every /containers endpoint of `builder daemon`
 * calls these methods. `ref` is a full id, a unique id prefix or a name (docker's lookup order). Methods take and
 * return Docker Engine API shapes; errors are BuildErrors (CONTAINER_NOT_FOUND 404, CONFLICT 409, …). Every
 * command that changes a container runs under that container's lock.
 */
export class Containers {
  readonly containersDir: string;
  private readonly execContainers = new Map<string, string>();
  private constructor(readonly root: string) {
    this.containersDir = path.join(root, 'containers');
  }

  /** Opens the service over a store root ($BUILDER_ROOT by default). */
  static async open(root?: string): Promise<Containers> {
    return new Containers(root ?? defaultRoot());
  }

  /** Resolves a reference to the container's id, paths and record. */
  async find(ref: string): Promise<{ paths: ContainerPaths; record: ContainerRecord }> {
    await this.reviveAfterReboot();
    const id = await lookupContainer(this.containersDir, ref);
    const paths = new ContainerPaths(this.containersDir, id);
    const record = await readRecord(paths);
    if (!record) throw new BuildError('CONTAINER_NOT_FOUND', `No such container: ${ref}`);
    return { paths, record };
  }

  /** POST /containers/create: the record, the name and the rootfs; state `created`. */
  async create(body: ContainerCreateBody, name?: string): Promise<ContainerCreateResponse> {
    const { createContainer } = await import('./create.js');
    return createContainer(this.root, body, name);
  }

  /** POST /containers/{id}/start: launches the monitor and the process; starting a running container is a no-op. */
  async start(ref: string): Promise<void> {
    const { finalizeExit } = await lifecycle();
    const { paths, record } = await this.find(ref);
    let started = false;
    try {
      await withContainerLock(paths, async () => {
        let state = await observe(paths, await readState(paths));
        if (state.status === 'running') return;
        checkTransition('start', state.status, ref);
        started = true;
        if (state.runtimeId) state = await finalizeExit(this.root, paths, state);
        await this.startLocked(paths, record, state);
      });
    } catch (err) {
      // dockerd removes an AutoRemove container whose start failed (`docker run --rm` waits for that removal).
      if (started && record.hostConfig.AutoRemove) await this.remove(record.id, { force: true, volumes: true }).catch(() => undefined);
      throw err;
    }
  }

  /**
   * `run`: create, then start from the record create just wrote (`onCreated` hears the id in between, so a caller
   * can remove a container whose start failed), without reading it (or a state that does not
   * exist yet) back; the same lock, the same start, the same failure record as create + start.
   */
  async run(body: ContainerCreateBody, name?: string, onCreated?: (id: string) => void): Promise<ContainerCreateResponse> {
    const { createContainerRecord } = await import('./create.js');
    // The boot check (two small reads) runs beside create instead of before it, as find() would have run it.
    const [, { response, paths, record }] = await Promise.all([this.reviveAfterReboot(), createContainerRecord(this.root, body, name)]);
    onCreated?.(response.Id);
    await withContainerLock(paths, () => this.startLocked(paths, record, initialState()));
    return response;
  }

  /** Starts a container whose lock the caller holds; a failed start is recorded (exit code, error) and rethrown. */
  private async startLocked(paths: ContainerPaths, record: ContainerRecord, state: ContainerStateRecord): Promise<void> {
    const { startContainer } = await starter();
    try {
      // Persisted while `runc start` runs (start.ts); a failed start is rewritten below.
      await startContainer(this.root, paths, record, state, (running) => writeState(paths, running));
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      const exitCode = /executable file not found|no such file/.test(message) ? 127 : /permission denied/.test(message) ? 126 : 128;
      await writeState(paths, { ...state, exitCode, error: message });
      throw err;
    }
  }

  /** Stop signal, then SIGKILL after `timeoutSeconds` (default the container's StopTimeout, else 10); honours --rm. */
  async stop(ref: string, options: { timeoutSeconds?: number; signal?: string } = {}): Promise<void> {
    const { removeContainer, stopContainer } = await lifecycle();
    const { paths, record } = await this.find(ref);
    await withContainerLock(paths, async () => {
      await stopContainer(this.root, paths, record, options);
      if (record.hostConfig.AutoRemove) await removeContainer(this.root, paths, record, { force: true, volumes: true, fromExitCommand: true });
    });
  }

  async kill(ref: string, signal = 'KILL'): Promise<void> {
    const { killContainer, removeContainer } = await lifecycle();
    const { paths, record } = await this.find(ref);
    await withContainerLock(paths, async () => {
      const state = await killContainer(this.root, paths, record, signal);
      if (!isActive(state.status) && record.hostConfig.AutoRemove) await removeContainer(this.root, paths, record, { force: true, volumes: true });
    });
  }

  async restart(ref: string, options: { timeoutSeconds?: number; signal?: string } = {}): Promise<void> {
    const { stopContainer } = await lifecycle();
    const { startContainer } = await starter();
    const { paths, record } = await this.find(ref);
    await withContainerLock(paths, async () => {
      const stopped = await stopContainer(this.root, paths, record, options);
      await writeState(paths, await startContainer(this.root, paths, record, stopped));
    });
  }

  async pause(ref: string): Promise<void> {
    const { setPaused } = await lifecycle();
    const { paths, record } = await this.find(ref);
    await withContainerLock(paths, () => setPaused(paths, record, true));
  }

  async unpause(ref: string): Promise<void> {
    const { setPaused } = await lifecycle();
    const { paths, record } = await this.find(ref);
    await withContainerLock(paths, () => setPaused(paths, record, false));
  }

  /** Blocks until the condition holds: `not-running` (default), `next-exit`, or `removed`. */
  async wait(ref: string, condition: WaitCondition = 'not-running', signal?: AbortSignal): Promise<WaitResponse> {
    const { paths } = await this.find(ref);
    const first = await readState(paths);
    // The monitor's exit file, the exit command's write or the removal of the dir wakes the loop at once; the
    // 50 ms poll is the fallback.
    const changes = new DirChanges([paths.dir, paths.exitDir]);
    try {
      for (;;) {
        if (signal?.aborted) throw new BuildError('CANCELLED', 'wait cancelled');
        const raw = await readState(paths).catch(() => undefined);
        const record = raw === undefined ? undefined : await readRecord(paths);
        if (raw === undefined || record === undefined) {
          if (condition === 'removed' || condition === 'not-running') return { StatusCode: first.exitCode, Error: null };
          throw new BuildError('CONTAINER_NOT_FOUND', `No such container: ${ref}`);
        }
        if (condition === 'removed' && await this.removeOnExit(paths, record, raw)) continue;
        const state = await observe(paths, raw);
        const result = { StatusCode: state.exitCode, Error: state.error ? { Message: state.error } : null };
        if (condition === 'not-running' && !isActive(state.status)) return result;
        if (condition === 'next-exit' && !isActive(state.status) && state.finishedAt !== first.finishedAt) return result;
        await changes.next(50);
      }
    } finally {
      changes.close();
    }
  }

  /**
   * A waiter for the removal of an `--rm` container does the exit command's work itself the moment the monitor's
   * exit file appears, as dockerd removes an AutoRemove container itself: the exit command (a new CLI process,
   * which then finds the record gone or `removing`) is off the critical path of `docker run --rm`.
   */
  private async removeOnExit(paths: ContainerPaths, record: ContainerRecord, state: ContainerStateRecord): Promise<boolean> {
    const restart = record.hostConfig.RestartPolicy?.Name ?? 'no';
    if (!record.hostConfig.AutoRemove || (restart !== 'no' && restart !== '') || !isActive(state.status) || !state.runtimeId) return false;
    if (await readExitFile(paths, state.runtimeId) === undefined) return false;
    await this.cleanup(record.id, state.runtimeId);
    return true;
  }

  async remove(ref: string, options: RemoveOptions = {}): Promise<void> {
    const { removeContainer } = await lifecycle();
    const { paths, record } = await this.find(ref);
    await withContainerLock(paths, () => removeContainer(this.root, paths, record, options));
  }

  async rename(ref: string, newName: string): Promise<void> {
    const name = validateName(newName);
    const { paths, record } = await this.find(ref);
    await withContainerLock(paths, async () => {
      if (record.name === name) throw new BuildError('CONFLICT', `Renaming a container with the same name as its current name`);
      await reserveName(this.containersDir, name, record.id);
      await writeRecord(paths, { ...record, name });
      await releaseName(this.containersDir, record.name, record.id);
    });
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

  /** POST /commit: a new image of the container (commit.ts); resolves its config digest. */
  async commit(ref: string, options: CommitOptions = {}): Promise<{ Id: string }> {
    const { commitContainer } = await import('./commit.js');
    const { paths, record } = await this.find(ref);
    return withContainerLock(paths, () => commitContainer(this.root, paths, record, options));
  }

  /** POST /containers/{id}/update: restart policy and resources (update.ts). */
  async update(ref: string, body: UpdateBody): Promise<{ Warnings: string[] }> {
    const { updateContainer } = await import('./update.js');
    const { paths } = await this.find(ref);
    return withContainerLock(paths, async () => {
      const record = await readRecord(paths);
      if (!record) throw new BuildError('CONTAINER_NOT_FOUND', `No such container: ${ref}`);
      return updateContainer(paths, record, body);
    });
  }

  /** Log lines in order; with `follow` the iterable ends when the container stops (or `signal` aborts). */
  async *logs(ref: string, options: LogsOptions = {}): AsyncIterable<LogEntry> {
    const { paths } = await this.find(ref);
    const running = async (): Promise<boolean> => {
      const state = await readState(paths).catch(() => undefined);
      return state !== undefined && isActive((await observe(paths, state)).status);
    };
    yield* readLogs(paths.log, options, running);
  }

  /**
   * Feeds `input` into the running container's stdin (conmon's attach socket, attach-stdin.ts). The container must
   * have been created with OpenStdin; with StdinOnce its stdin closes when `input` ends.
   */
  async attachStdin(ref: string, input: Readable): Promise<StdinBridge> {
    const { paths, record } = await this.find(ref);
    if (record.config.OpenStdin !== true) throw new BuildError('CONFLICT', `container ${record.name} was not created with stdin open (-i)`);
    const state = await observe(paths, await readState(paths));
    if (!isActive(state.status)) throw new BuildError('CONFLICT', `You cannot attach to a stopped container, start it first`);
    const { attachStdin } = await import('./attach-stdin.js');
    return attachStdin(paths, input);
  }

  /** POST /containers/{id}/resize: the pty of a -t container (conmon's ctl FIFO); a container without one is a no-op. */
  async resize(ref: string, rows: number, columns: number): Promise<void> {
    const { paths, record } = await this.find(ref);
    const { resizeTty } = await import('./attach-stdin.js');
    if (record.config.Tty !== true) return;
    await resizeTty(paths, rows, columns);
  }

  /** The monitor's exit command (`builder container cleanup ID`): monitor-callbacks.ts. */
  async cleanup(id: string, runtimeId?: string): Promise<void> {
    return (await callbacks()).cleanupAfterExit(this, id, runtimeId);
  }

  /** One healthcheck of run `runtimeId` (the timer's callback); false ends the timer: monitor-callbacks.ts. */
  async healthcheck(id: string, runtimeId: string): Promise<boolean> {
    return (await callbacks()).healthcheckOnce(this, id, runtimeId);
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

  async execCreate(ref: string, body: ExecCreateBody): Promise<{ Id: string }> {
    const { execCreate } = await import('./exec.js');
    const { paths, record } = await this.find(ref);
    const state = await observe(paths, await readState(paths));
    checkTransition('exec', state.status, ref);
    const created = await execCreate(paths, record, body);
    // Exec ids say nothing of their container: remembered here, the start reads one exec dir instead of all.
    if (this.execContainers.size > 1000) this.execContainers.clear();
    this.execContainers.set(created.Id, record.id);
    return created;
  }

  /** Runs the exec session with the given stdio; resolves its exit code. */
  async execStart(execId: string, stdio: ExecStdio, options: { consoleSize?: [number, number] | null } = {}): Promise<number> {
    const { execStart } = await import('./exec.js');
    try {
      return await execStart(this.containersDir, execId, stdio, async (id) => {
        const paths = new ContainerPaths(this.containersDir, id);
        return observe(paths, await readState(paths));
      }, { ...options, containerId: this.execContainers.get(execId) });
    } finally {
      this.execContainers.delete(execId);
    }
  }

  /** POST /exec/{id}/resize: the pty of a running `exec -t` (a no-op for an exec without one). */
  async execResize(execId: string, rows: number, columns: number): Promise<void> {
    const { execResize } = await import('./exec.js');
    return execResize(this.containersDir, execId, rows, columns, this.execContainers.get(execId));
  }

  async execInspect(execId: string): Promise<ExecInspect> {
    const { execInspect } = await import('./exec.js');
    return execInspect(this.containersDir, execId);
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

  /** PUT /containers/{id}/archive: extracts `tar` into directory `path` inside the container. */
  async archivePut(ref: string, containerPath: string, tar: NodeJS.ReadableStream): Promise<void> {
    const { archivePut } = await import('./archive.js');
    const { paths, record } = await this.find(ref);
    await withContainerLock(paths, async () => archivePut(record, containerPath, tar, await this.mountsOf(paths)));
  }

  /** The volumes and binds of the container's current or last run (what `cp` sees besides the rootfs). */
  async mountsOf(paths: ContainerPaths): Promise<ResolvedMount[]> {
    return (await readState(paths).catch(() => undefined))?.mounts ?? [];
  }

  /** Brings `--restart always|unless-stopped` containers back after a reboot (monitor-callbacks.ts). */
  async reviveAfterReboot(): Promise<string[]> {
    return (await callbacks()).reviveAfterReboot(this);
  }

  /** POST /containers/prune: removes every stopped container. */
  async prune(filters: Record<string, string[]> = {}): Promise<PruneResponse> {
    const { removeContainer } = await lifecycle();
    const deleted: string[] = [];
    let reclaimed = 0;
    const { treeSize } = await import('../store/gc-size.js');
    for (const summary of await this.list({ all: true, filters })) {
      if (isActive(summary.State)) continue;
      const { paths, record } = await this.find(summary.Id);
      const size = await treeSize(path.join(record.rootfsDir, 'upper')).catch(() => 0);
      try {
        await withContainerLock(paths, () => removeContainer(this.root, paths, record, {}));
        deleted.push(summary.Id);
        reclaimed += size;
      } catch {
        // Started meanwhile, or removed by another command: not ours to prune.
      }
    }
    return { ContainersDeleted: deleted, SpaceReclaimed: reclaimed };
  }
}

