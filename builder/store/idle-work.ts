/**
 * Work a build must do but need not wait for, run while the process would otherwise only wait on a child.
 * Why: reaping what killed builders left (store/reap.ts) is synchronous looking (readdir of /tmp, owner files,
 * runc state) that took 2-26 ms of every cold build's critical path on a shared machine, yet a RUN step leaves the
 * event loop idle for the 30-70 ms `runc create` takes. So a build queues its reap here; the sandbox starts the
 * queue the moment a container's runtime is on its way (sandbox/runc.ts), and whoever queued a task starts it
 * itself at the latest when it needs it done (a build with no RUN: under its lease, after its steps).
 */
export interface IdleTask<T> {
  /** Starts the task now if nothing has yet; idempotent. */
  start(): Promise<T>;
}

const queue: Array<() => void> = [];

/** Queues `task` for the next idle moment; it runs once, whichever comes first: runIdleWork or start(). */
export function whenIdle<T>(task: () => Promise<T>): IdleTask<T> {
  let running: Promise<T> | undefined;
  const start = (): Promise<T> => {
    if (!running) {
      const at = queue.indexOf(kick);
      if (at >= 0) queue.splice(at, 1);
      running = task();
    }
    return running;
  };
  // A task failing while nobody waits yet must not become an unhandled rejection: start() hands it over.
  const kick = (): void => { start().catch(() => undefined); };
  queue.push(kick);
  return { start };
}

/**
 * The process is about to wait (a runtime was just spawned): start what is queued on a later turn of the loop,
 * after the caller has wired up its child's pipes.
 */
export function runIdleWork(): void {
  if (queue.length === 0) return;
  setImmediate(() => {
    for (const kick of queue.splice(0)) kick();
  });
}
