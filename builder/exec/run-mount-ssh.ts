/**
 * `RUN --mount=type=ssh`: an SSH agent given with `builder build --ssh id=…`, reachable from one step as a
 * unix socket (default `/run/buildkit/ssh_agent.<n>`, SSH_AUTH_SOCK pointing at the first). As BuildKit does,
 * the step never sees the host's socket itself: a socket of our own in a private dir (mode/uid/gid as the mount
 * says, 0600 root by default) is bound over the target, and every connection to it is piped to the agent. It
 * goes when the step ends; its mount stub is removed, so the layer never holds it. The cache key sees only the
 * mount's options (id, target, required, mode, uid, gid), never the socket or the keys behind it.
 */
import { chmod, chown, mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { RunMount } from '../dockerfile/types.js';
import { BuildError } from '../errors.js';
import type { OpenedMount } from './run-mount-bind.js';
import type { StepContext } from './types.js';

export type SshMount = Extract<RunMount, { type: 'ssh' }>;

/** Where the n-th ssh mount of a RUN lands without a target (llb.AddSSHSocket). */
export function defaultSshTarget(index: number): string {
  return `/run/buildkit/ssh_agent.${index}`;
}

/**
 * Opens an ssh mount at the absolute `target`. A missing agent is an error when `required` (in BuildKit's
 * words: no `--ssh` at all, or not this id), else the mount is skipped.
 */
export async function openSshMount(mount: SshMount, target: string, ctx: Pick<StepContext, 'sshAgents'>): Promise<OpenedMount | { release(): Promise<void> }> {
  const agent = ctx.sshAgents?.get(mount.id);
  if (agent === undefined) {
    if (!mount.required) return { release: async () => {} };
    const hint = ` (pass it with builder build --ssh ${mount.id === 'default' ? 'default' : `${mount.id}=<socket or key file>`})`;
    throw new BuildError('INVALID_ARGUMENT', ctx.sshAgents === undefined || ctx.sshAgents.size === 0
      ? `no SSH key "${mount.id}" forwarded from the client${hint}`
      : `unset ssh forward key ${mount.id}${hint}`);
  }
  const dir = await mkdtemp(path.join(os.tmpdir(), `builder-ssh-${process.pid}-`));
  const socket = path.join(dir, 'agent.sock');
  const connections = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(agent);
    connections.add(client).add(upstream);
    const drop = (): void => { client.destroy(); upstream.destroy(); connections.delete(client); connections.delete(upstream); };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
    client.pipe(upstream).pipe(client);
  });
  const release = async (): Promise<void> => {
    for (const connection of connections) connection.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(socket, () => { server.off('error', reject); resolve(); });
    });
    // The socket is not waited on by the build: it must not keep the process alive after an interrupted build.
    server.unref();
    await chmod(socket, (mount.mode ?? 0o600) & 0o777);
    await chown(socket, mount.uid ?? 0, mount.gid ?? 0);
    return { mount: { type: 'bind', source: socket, target, readonly: false }, release };
  } catch (err) {
    await release().catch(() => undefined);
    throw err;
  }
}
