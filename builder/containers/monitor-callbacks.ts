/**
 * What a container's monitor calls back into the service for: the exit command (record the exit, apply the
 * restart policy or --rm), one healthcheck, and the revival of `--restart always` containers after a reboot.
 * Split out of service.ts (the command surface) because none of it is a user command. The heavy modules load
 * inside each function: reviveAfterReboot runs before every container command, `ps` included.
 */
import path from 'node:path';
import { ContainerPaths, listIds, readRecord, readState, withContainerLock, withContainerLockUnless, writeState } from './record.js';
import type { Containers } from './service.js';
import { isActive } from './state.js';
import { observe } from './truth.js';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The monitor's exit command (`builder container cleanup ID`): records the exit, then applies the restart
 * policy (with docker's growing delay) or --rm. Does nothing when a user command already recorded the exit.
 */
export async function cleanupAfterExit(service: Containers, id: string, runtimeId?: string): Promise<void> {
  const { finalizeExit, removeContainer, restartDelayMs, shouldRestart } = await import('./lifecycle.js');
  const { startContainer } = await import('./start.js');
  const paths = new ContainerPaths(service.containersDir, id);
  const record = await readRecord(paths);
  if (!record) return;
  // An rm under way records the exit itself (and waits for this monitor to end): nothing to do here.
  const removing = async (): Promise<boolean> => (await readState(paths).catch(() => undefined))?.status === 'removing';
  const next = await withContainerLockUnless(paths, removing, async () => {
    const state = await readState(paths);
    // A later run (restart) is not this monitor's to record.
    if (!state.runtimeId || (runtimeId !== undefined && state.runtimeId !== runtimeId)) return 'none' as const;
    const finished = await finalizeExit(service.root, paths, state);
    if (shouldRestart(record, finished)) {
      await writeState(paths, { ...finished, status: 'restarting' });
      return 'restart' as const;
    }
    if (record.hostConfig.AutoRemove) await removeContainer(service.root, paths, record, { force: true, volumes: true, fromExitCommand: true });
    return 'none' as const;
  });
  if (next !== 'restart') return;
  await sleep(restartDelayMs((await readState(paths)).restartCount));
  await withContainerLock(paths, async () => {
    const state = await readState(paths);
    // A stop or rm during the delay wins.
    if (state.status !== 'restarting' || state.stoppedByUser) return;
    try {
      await writeState(paths, await startContainer(service.root, paths, record, { ...state, restartCount: state.restartCount + 1 }));
    } catch (err) {
      await writeState(paths, { ...state, status: 'exited', error: err instanceof Error ? err.message : String(err) });
    }
  });
}

/**
 * One healthcheck of run `runtimeId` (the timer's callback). False when that run is over, which ends the timer.
 * The check runs without the lock (it may take its whole timeout); only the result is written under it.
 */
export async function healthcheckOnce(service: Containers, id: string, runtimeId: string): Promise<boolean> {
  const { applyResult, healthEnabled, runCheck } = await import('./health.js');
  const paths = new ContainerPaths(service.containersDir, id);
  const record = await readRecord(paths);
  const config = record?.config.Healthcheck;
  const current = async () => observe(paths, await readState(paths));
  const before = await current();
  if (!record || !healthEnabled(config) || before.runtimeId !== runtimeId || !isActive(before.status)) return false;
  if (before.status === 'paused') return true;
  const result = await runCheck(config, async (cmd, stdout) => {
    const { Id } = await service.execCreate(id, { Cmd: cmd, AttachStdout: true, AttachStderr: true });
    try {
      return await service.execStart(Id, { stdout, stderr: stdout });
    } finally {
      const { execRemove } = await import('./exec.js');
      await execRemove(service.containersDir, Id, id).catch(() => undefined);
    }
  });
  return withContainerLock(paths, async () => {
    const state = await readState(paths);
    if (state.runtimeId !== runtimeId || !isActive(state.status)) return false;
    const health = applyResult(state.health ?? { Status: 'starting', FailingStreak: 0, Log: [] }, config, result, state.startedAt);
    await writeState(paths, { ...state, health });
    return true;
  });
}

/**
 * `--restart always|unless-stopped` containers come back after a reboot on the next container command (or
 * `builder container revive` from the systemd unit in docs/). One file read when nothing rebooted.
 */
export async function reviveAfterReboot(service: Containers): Promise<string[]> {
  const { bootId } = await import('./monitor.js');
  const { readFile } = await import('node:fs/promises');
  const { writeFileAtomic } = await import('../store/atomic-write.js');
  const marker = path.join(service.containersDir, '.boot-id');
  const boot = await bootId();
  const seen = (await readFile(marker, 'utf8').catch(() => '')).trim();
  if (seen === boot) return [];
  await writeFileAtomic(marker, boot).catch(() => undefined);
  if (seen === '') return [];
  const revived: string[] = [];
  for (const id of await listIds(service.containersDir)) {
    const paths = new ContainerPaths(service.containersDir, id);
    const record = await readRecord(paths).catch(() => undefined);
    const policy = record?.hostConfig.RestartPolicy?.Name;
    if (!record || (policy !== 'always' && policy !== 'unless-stopped')) continue;
    const state = await readState(paths);
    if (state.stoppedByUser || state.bootId === boot) continue;
    await service.start(id).then(() => revived.push(id), () => undefined);
  }
  return revived;
}
