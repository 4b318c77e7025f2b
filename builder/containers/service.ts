import { BuildError } from '../errors.js';
import { defaultRoot } from '../store/store.js';
import type { ContainerCreateBody, ContainerCreateResponse, PruneResponse, RemoveOptions, WaitCondition, WaitResponse } from './docker-types.js';
import { releaseName, reserveName, validateName } from './lookup.js';
import {
  ContainerPaths, initialState, readRecord, readState, withContainerLock, writeRecord, writeState, type ContainerRecord,
  type ContainerStateRecord,
} from './record.js';
import { readExitFile } from './monitor.js';
import { ContainerExecs } from './service-exec.js';
import { checkTransition, isActive } from './state.js';
import { observe } from './truth.js';
import { DirChanges } from './dir-changes.js';
import type { CommitOptions } from './commit.js';
import type { UpdateBody } from './update.js';
import type { NetworkRef } from './network-connect.js';
import path from 'node:path';

// Loaded on first use: `ps`, `logs` and `inspect` need none of runc, overlay mounts or the store's image code.
const lifecycle = () => import('./lifecycle.js');
const starter = () => import('./start.js');
const callbacks = () => import('./monitor-callbacks.js');

/**
 * The container service: every container command of the CLI and every /containers endpoint of `builder daemon`
 * calls these methods. `ref` is a full id, a unique id prefix or a name (docker's lookup order). Methods take and
 * return Docker Engine API shapes; errors are BuildErrors (CONTAINER_NOT_FOUND 404, CONFLICT 409, …). Every
 * command that changes a container runs under that container's lock. The reads are service-reads.ts, exec and
 * stdin service-exec.ts; this file is the lifecycle.
 */
export class Containers extends ContainerExecs {
  private constructor(root: string) {
    super(root);
  }

  /** Opens the service over a store root ($BUILDER_ROOT by default). */
  static async open(root?: string): Promise<Containers> {
    return new Containers(root ?? defaultRoot());
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

  /** moby's order and words: No such container, then the same name, then `Error when allocating new name: …`. */
  async rename(ref: string, newName: string): Promise<void> {
    const { paths, record } = await this.find(ref);
    await withContainerLock(paths, async () => {
      const allocating = (err: unknown): never => {
        if (err instanceof BuildError) throw new BuildError(err.code, `Error when allocating new name: ${err.message}`);
        throw err;
      };
      let name: string;
      try {
        name = validateName(newName.startsWith('/') ? newName : `/${newName}`);
      } catch (err) {
        return allocating(err);
      }
      if (record.name === name) throw new BuildError('CONFLICT', `Renaming a container with the same name as its current name`);
      await reserveName(this.containersDir, name, record.id).catch(allocating);
      await writeRecord(paths, { ...record, name });
      await releaseName(this.containersDir, record.name, record.id);
    });
  }

  /** POST /networks/{id}/connect: recorded for the next starts, joined now when running (network-connect.ts). */
  async connectNetwork(ref: string, network: NetworkRef, aliases: string[]): Promise<void> {
    const { connectContainer } = await import('./network-connect.js');
    const { paths } = await this.find(ref);
    await withContainerLock(paths, async () => connectContainer(this.root, paths, await this.reread(paths, ref), network, aliases));
  }

  /** POST /networks/{id}/disconnect (network-connect.ts). */
  async disconnectNetwork(ref: string, network: NetworkRef): Promise<void> {
    const { disconnectContainer } = await import('./network-connect.js');
    const { paths } = await this.find(ref);
    await withContainerLock(paths, async () => disconnectContainer(this.root, paths, await this.reread(paths, ref), network));
  }

  /** The record as it is under the lock (rename, update and connect rewrite it). */
  private async reread(paths: ContainerPaths, ref: string): Promise<ContainerRecord> {
    const record = await readRecord(paths);
    if (!record) throw new BuildError('CONTAINER_NOT_FOUND', `No such container: ${ref}`);
    return record;
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

  /** The monitor's exit command (`builder container cleanup ID`): monitor-callbacks.ts. */
  async cleanup(id: string, runtimeId?: string): Promise<void> {
    return (await callbacks()).cleanupAfterExit(this, id, runtimeId);
  }

  /** One healthcheck of run `runtimeId` (the timer's callback); false ends the timer: monitor-callbacks.ts. */
  async healthcheck(id: string, runtimeId: string): Promise<boolean> {
    return (await callbacks()).healthcheckOnce(this, id, runtimeId);
  }

  /** PUT /containers/{id}/archive: extracts `tar` into directory `path` inside the container. */
  async archivePut(ref: string, containerPath: string, tar: NodeJS.ReadableStream): Promise<void> {
    const { archivePut } = await import('./archive.js');
    const { paths, record } = await this.find(ref);
    await withContainerLock(paths, async () => archivePut(record, containerPath, tar, await this.mountsOf(paths)));
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
