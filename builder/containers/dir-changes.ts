/**
 * Wakes a poller early when one of a container's directories changes (inotify through fs.watch): the monitor
 * writes its exit file into exits/, the exit command writes state.json (an atomic rename into the directory) or
 * removes the directory, so a `wait` sees each within a millisecond instead of half a poll interval on average.
 * Polling stays the source of truth: where watching is not possible (a directory is gone, no inotify) `next` is
 * a plain timer.
 */
import { watch, type FSWatcher } from 'node:fs';

export class DirChanges {
  private watchers: FSWatcher[] = [];
  private changed = false;
  private wake: (() => void) | undefined;

  constructor(dirs: string[]) {
    for (const dir of dirs) {
      try {
        // Not persistent: the poll timer keeps the process alive, the watchers never do.
        const watcher = watch(dir, { persistent: false }, () => this.fire());
        watcher.on('error', () => watcher.close());
        this.watchers.push(watcher);
      } catch {
        // Not there (yet): the poll covers it.
      }
    }
  }

  /** Resolves at the next change (or at once if one came since the last call), else after `ms`. */
  next(ms: number): Promise<void> {
    if (this.changed) {
      this.changed = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.wake = undefined;
        resolve();
      }, ms);
      this.wake = () => {
        clearTimeout(timer);
        this.wake = undefined;
        this.changed = false;
        resolve();
      };
    });
  }

  close(): void {
    for (const watcher of this.watchers) watcher.close();
    this.watchers = [];
  }

  private fire(): void {
    this.changed = true;
    this.wake?.();
  }
}
