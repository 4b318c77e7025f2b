/**
 * Wakes a poller early when a container's directory changes (inotify through fs.watch): the exit command writes
 * state.json (an atomic rename into the directory) or removes the directory, so a `wait` sees the exit within a
 * millisecond instead of half a poll interval on average. Polling stays the source of truth: where watching is
 * not possible (the directory is gone, no inotify) `next` is a plain timer.
 */
import { watch, type FSWatcher } from 'node:fs';

export class DirChanges {
  private watcher: FSWatcher | undefined;
  private changed = false;
  private wake: (() => void) | undefined;

  constructor(dir: string) {
    try {
      // Not persistent: the poll timer keeps the process alive, the watcher never does.
      this.watcher = watch(dir, { persistent: false }, () => this.fire());
      this.watcher.on('error', () => this.close());
    } catch {
      this.watcher = undefined;
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
    this.watcher?.close();
    this.watcher = undefined;
  }

  private fire(): void {
    this.changed = true;
    this.wake?.();
  }
}
