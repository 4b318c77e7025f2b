/** The container service's exec sessions and stdin/pty plumbing (exec.ts, attach-stdin.ts) over its reads. */
import { BuildError } from '../errors.js';
import type { ExecCreateBody, ExecInspect, ExecStdio } from './docker-types.js';
import { ContainerPaths, readState } from './record.js';
import { ContainerReads } from './service-reads.js';
import { checkTransition, isActive } from './state.js';
import { observe } from './truth.js';
import type { Readable } from 'node:stream';
import type { StdinBridge } from './attach-stdin.js';

export abstract class ContainerExecs extends ContainerReads {
  private readonly execContainers = new Map<string, string>();

  async execCreate(ref: string, body: ExecCreateBody): Promise<{ Id: string }> {
    const { execCreate } = await import('./exec.js');
    const { paths, record } = await this.find(ref);
    const state = await observe(paths, await readState(paths));
    checkTransition('exec', state.status, ref, false, record.id);
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
}
