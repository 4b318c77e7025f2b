import { rm } from 'node:fs/promises';
import { BuildError } from '../errors.js';
import { unmountSnapshot } from '../snapshot/mount.js';
import type { RemoveOptions } from './docker-types.js';
import { releaseName } from './lookup.js';
import { normalizeSignal } from './signals.js';
import { isSameProcess, readExitFile, runc } from './monitor.js';
import { readState, writeState, type ContainerPaths, type ContainerRecord, type ContainerStateRecord } from './record.js';
import { detachNetwork, openVolumes } from './resources.js';
import { checkTransition, isActive } from './state.js';
import { observe } from './truth.js';

export { normalizeSignal };

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Waits up to `ms` for the current run to end; the observed state (exited) or undefined on timeout. */
async function waitForExit(paths: ContainerPaths, state: ContainerStateRecord, ms: number): Promise<ContainerStateRecord | undefined> {
  const deadline = Date.now() + ms;
  for (;;) {
    const seen = await observe(paths, state);
    if (!isActive(seen.status)) return seen;
    if (Date.now() >= deadline) return undefined;
    await sleep(20);
  }
}

/**
 * Records the end of a run (idempotent: a state without runtimeId is already finalized): deletes the runc
 * container and detaches the networks. The filesystem stays mounted so `cp`, `logs` and `start` find it.
 */
export async function finalizeExit(root: string, paths: ContainerPaths, state: ContainerStateRecord): Promise<ContainerStateRecord> {
  if (!state.runtimeId) return state;
  const exitCode = (await readExitFile(paths, state.runtimeId)) ?? state.exitCode;
  const seen = await observe(paths, state);
  await runc(['delete', '--force', state.runtimeId]).catch(() => undefined);
  if (state.attachment) await detachNetwork(root, paths.id).catch(() => undefined);
  const finished: ContainerStateRecord = {
    ...seen, status: 'exited', pid: 0, exitCode: seen.status === 'exited' ? seen.exitCode : exitCode,
    finishedAt: new Date().toISOString(), runtimeId: undefined, attachment: undefined,
  };
  await writeState(paths, finished);
  return finished;
}

/** `stop`: the stop signal, then SIGKILL after the timeout, as docker. Stopping a stopped container is a no-op. */
export async function stopContainer(
  root: string, paths: ContainerPaths, record: ContainerRecord, options: { timeoutSeconds?: number; signal?: string },
): Promise<ContainerStateRecord> {
  let state = await observe(paths, await readState(paths));
  if (!isActive(state.status)) {
    if (state.runtimeId) state = await finalizeExit(root, paths, state);
    if (state.status === 'restarting') state = { ...state, status: 'exited' };
    state = { ...state, stoppedByUser: true };
    await writeState(paths, state);
    return state;
  }
  state = { ...state, stoppedByUser: true };
  await writeState(paths, state);
  const signal = normalizeSignal(options.signal ?? record.config.StopSignal ?? 'SIGTERM');
  const timeout = options.timeoutSeconds ?? record.config.StopTimeout ?? 10;
  const runtimeId = state.runtimeId!;
  await runc(['kill', runtimeId, signal]).catch(() => undefined);
  if (state.status === 'paused') await runc(['resume', runtimeId]).catch(() => undefined);
  let ended = timeout < 0 ? await waitForExit(paths, state, 365 * 24 * 3600_000) : await waitForExit(paths, state, timeout * 1000);
  if (!ended) {
    await runc(['kill', '--all', runtimeId, 'KILL']).catch(() => undefined);
    ended = await waitForExit(paths, state, 10_000);
    if (!ended) throw new BuildError('SANDBOX_FAILED', `container ${record.name} did not stop after SIGKILL`);
  }
  return finalizeExit(root, paths, state);
}

/** `kill -s SIG`: sends it; for SIGKILL waits for the end and records it, as docker does. */
export async function killContainer(root: string, paths: ContainerPaths, record: ContainerRecord, signalName: string): Promise<ContainerStateRecord> {
  const signal = normalizeSignal(signalName);
  const state = await observe(paths, await readState(paths));
  checkTransition('kill', state.status, record.name, false, record.id);
  const marked = { ...state, stoppedByUser: true };
  await writeState(paths, marked);
  await runc(['kill', ...(signal === 'KILL' ? ['--all'] : []), marked.runtimeId!, signal]);
  if (signal !== 'KILL') return marked;
  if (state.status === 'paused') await runc(['resume', marked.runtimeId!]).catch(() => undefined);
  const ended = await waitForExit(paths, marked, 10_000);
  return ended ? finalizeExit(root, paths, marked) : marked;
}

/** pause/unpause: runc's cgroup freezer (v1 freezer.state, v2 cgroup.freeze). */
export async function setPaused(paths: ContainerPaths, record: ContainerRecord, paused: boolean): Promise<void> {
  const state = await observe(paths, await readState(paths));
  checkTransition(paused ? 'pause' : 'unpause', state.status, record.name);
  await runc([paused ? 'pause' : 'resume', state.runtimeId!]);
  await writeState(paths, { ...state, status: paused ? 'paused' : 'running' });
}

/**
 * `rm`: refuses a running container without force (docker's error), else kills it; then unmounts, releases
 * volumes (anonymous ones with -v), frees the name and deletes the directory. A failure half-way leaves
 * the state `dead`, which a later `rm -f` finishes.
 */
/**
 * `rm`. `fromExitCommand`: called by the monitor's own exit command (`--rm`), which runs after the monitor wrote the
 * exit file and log and which the monitor waits for — so waiting for the monitor here would wait for ourselves.
 */
export async function removeContainer(root: string, paths: ContainerPaths, record: ContainerRecord, options: RemoveOptions & { fromExitCommand?: boolean }): Promise<void> {
  let state = await observe(paths, await readState(paths));
  checkTransition('remove', state.status, record.name, options.force === true);
  if (isActive(state.status)) {
    state = { ...state, stoppedByUser: true };
    await runc(['kill', '--all', state.runtimeId!, 'KILL']).catch(() => undefined);
    if (state.status === 'paused') await runc(['resume', state.runtimeId!]).catch(() => undefined);
    await waitForExit(paths, state, 10_000);
  }
  const monitor = { pid: state.monitorPid, start: state.monitorStart, boot: state.bootId };
  state = await finalizeExit(root, paths, state);
  await writeState(paths, { ...state, status: 'removing' });
  try {
    // The monitor writes its exit file and log into the dir as it ends: let it finish first.
    if (!options.fromExitCommand) {
      for (let i = 0; i < 100 && await isSameProcess(monitor.pid, monitor.start, monitor.boot); i++) await sleep(20);
    }
    await unmountSnapshot(record.rootfsDir);
    const volumes = await openVolumes(root);
    await volumes?.release(record.id, { removeAnonymous: options.volumes === true });
    await rm(paths.dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 50 });
  } catch (err) {
    await writeState(paths, { ...state, status: 'dead', error: err instanceof Error ? err.message : String(err) }).catch(() => undefined);
    throw err;
  }
  await releaseName(paths.containersDir, record.name, record.id);
}

/** Docker's policies: always and unless-stopped unless the user stopped it; on-failure for non-zero codes, up to N. */
export function shouldRestart(record: ContainerRecord, state: ContainerStateRecord): boolean {
  if (state.stoppedByUser) return false;
  const policy = record.hostConfig.RestartPolicy ?? {};
  switch (policy.Name) {
    case 'always':
    case 'unless-stopped':
      return true;
    case 'on-failure':
      return state.exitCode !== 0 && (!policy.MaximumRetryCount || state.restartCount < policy.MaximumRetryCount);
    default:
      return false;
  }
}

/** Docker's restart delay: 100 ms doubling per restart, capped (ours at 5 s: a CLI-side monitor should not idle long). */
export function restartDelayMs(restartCount: number): number {
  return Math.min(100 * 2 ** restartCount, 5_000);
}
