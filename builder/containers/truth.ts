import { isSameProcess, readExitFile } from './monitor.js';
import type { ContainerPaths, ContainerStateRecord } from './record.js';
import { isActive } from './state.js';

/** Exit code shown when a container died while nothing watched it (monitor killed, machine restarted). */
export const UNKNOWN_EXIT_CODE = 255;

/**
 * The state as it really is, from the record plus the monitor's exit file and the processes: what `ps` and
 * `inspect` show, and what every command starts from. Never writes (callers holding the lock persist it), so
 * `ps` stays read-only and fast.
 * - an exit file for the current run → exited with its code (the cleanup may not have run yet);
 * - no exit file and the container's process is gone (or another boot) → exited, code unknown;
 * - the process lives → what the record says, even when the monitor was killed (the process really runs).
 */
export async function observe(paths: ContainerPaths, state: ContainerStateRecord): Promise<ContainerStateRecord> {
  if (!isActive(state.status) || !state.runtimeId) return state;
  const exitCode = await readExitFile(paths, state.runtimeId);
  if (exitCode !== undefined) {
    return { ...state, status: 'exited', pid: 0, exitCode, finishedAt: state.finishedAt > state.startedAt ? state.finishedAt : new Date().toISOString() };
  }
  if (await isSameProcess(state.pid, state.pidStart, state.bootId)) return state;
  const monitorAlive = await isSameProcess(state.monitorPid, state.monitorStart, state.bootId);
  // The monitor writes the exit file a moment after the process ends: give it that moment.
  if (monitorAlive) {
    for (let i = 0; i < 20; i++) {
      await new Promise((resolve) => setTimeout(resolve, 25));
      const late = await readExitFile(paths, state.runtimeId);
      if (late !== undefined) return { ...state, status: 'exited', pid: 0, exitCode: late, finishedAt: new Date().toISOString() };
    }
  }
  return {
    ...state, status: 'exited', pid: 0, exitCode: UNKNOWN_EXIT_CODE,
    error: monitorAlive ? 'the container process is gone and its monitor did not report an exit code'
      : 'the container\'s monitor is gone (killed, or the machine restarted); its exit code is unknown',
    finishedAt: new Date().toISOString(),
  };
}

/**
 * Whether the container's log may still grow: its run is active and conmon has not yet written the exit file,
 * while the process or conmon lives. conmon drains the process's pipes into the log and fsyncs it before it
 * writes the exit file, so a follower (attach, `logs -f`) that reads once more after this turns false has every
 * line. `observe` alone is not enough: it calls a run exited half a second after the process is gone even when the
 * exit file is late (a slow fsync under load), which could end a follow before the drain.
 */
export async function logMayGrow(paths: ContainerPaths, state: ContainerStateRecord): Promise<boolean> {
  if (!isActive(state.status) || !state.runtimeId) return false;
  if (await readExitFile(paths, state.runtimeId) !== undefined) return false;
  return await isSameProcess(state.pid, state.pidStart, state.bootId)
    || await isSameProcess(state.monitorPid, state.monitorStart, state.bootId);
}
