import { BuildError } from '../errors.js';
import type { ContainerStatus } from './docker-types.js';

/** The operations whose legality depends on the state (podman's libpod/define/containerstate.go, docker's errors). */
export type ContainerAction = 'start' | 'stop' | 'kill' | 'pause' | 'unpause' | 'exec' | 'remove' | 'attach' | 'top' | 'stats';

/** From which states each action may run. `stop` of a stopped container is a no-op, as in docker. */
const ALLOWED: Record<ContainerAction, readonly ContainerStatus[]> = {
  start: ['created', 'exited', 'running'],
  stop: ['created', 'running', 'paused', 'restarting', 'exited'],
  kill: ['running', 'paused', 'restarting'],
  pause: ['running'],
  unpause: ['paused'],
  exec: ['running'],
  remove: ['created', 'exited', 'dead'],
  attach: ['created', 'running', 'exited'],
  top: ['running', 'paused'],
  stats: ['created', 'running', 'paused', 'exited', 'restarting'],
};

/**
 * Throws docker's error for `action` on a container in `status`; `label` is the name or id the user gave, `id` the
 * full id, which dockerd names in "container <id> is not running" (kill, exec).
 */
export function checkTransition(action: ContainerAction, status: ContainerStatus, label: string, force = false, id = label): void {
  if (ALLOWED[action].includes(status)) return;
  if (action === 'remove' && force) return;
  throw new BuildError('CONFLICT', transitionMessage(action, status, label, id));
}

function transitionMessage(action: ContainerAction, status: ContainerStatus, label: string, id: string): string {
  switch (action) {
    case 'remove':
      return status === 'paused'
        ? `cannot remove container "/${label}": container is paused and must be unpaused first`
        : `cannot remove container "/${label}": container is ${status}: stop the container before removing or force remove`;
    case 'kill': return `cannot kill container: ${label}: container ${id} is not running`;
    case 'pause': return status === 'paused' ? `container ${label} is already paused` : `container ${label} is not running`;
    case 'unpause': return `container ${label} is not paused`;
    case 'exec': return status === 'paused' ? `container ${id} is paused, unpause the container before exec` : `container ${id} is not running`;
    case 'start': return `cannot start a ${status} container ${label}${status === 'paused' ? ': unpause it instead' : ''}`;
    default: return `container ${label} is ${status}: cannot ${action} it`;
  }
}

/** Whether a process may exist for the container (the monitor's checks apply). */
export function isActive(status: ContainerStatus): boolean {
  return status === 'running' || status === 'paused' || status === 'restarting';
}
