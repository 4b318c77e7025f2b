/**
 * The periodic half of the shared cache's GC: every `intervalS` one worker of the farm (whoever takes the Redis lock
 * first) runs `prune --shared`. The lock lives as long as the interval, so the farm prunes once per interval however
 * many workers there are. Failures are logged; the next interval tries again.
 */
import type { Store } from '../builder/store/store.js';
import { gcGraceMs } from '../builder/store/gc-auto.js';

const DEFAULT_GRACE_MS = 10 * 60 * 1000;

export interface SharedGcTimer {
  stop(): Promise<void>;
}

export async function startSharedGc(options: {
  redisUrl: string; repo: string; store: Store; workerName: string; intervalS: number;
  log(message: string, fields?: Record<string, unknown>): void;
}): Promise<SharedGcTimer> {
  const { SharedCache } = await import('../cache/shared.js');
  const { pruneShared } = await import('../cache/shared-gc.js');
  const cache = new SharedCache({ redisUrl: options.redisUrl, repo: options.repo, store: options.store, workerName: options.workerName });
  let running: Promise<void> | undefined;
  const tick = (): void => {
    running ??= (async () => {
      try {
        const mine = await cache.redis.set(cache.key('gc-lock'), options.workerName, 'EX', options.intervalS, 'NX');
        if (mine !== 'OK') return;
        const report = await pruneShared(cache, { graceMs: gcGraceMs() ?? DEFAULT_GRACE_MS });
        options.log('shared cache GC', { deleted: report.blobs.length, kept: report.kept, failed: report.failed.length });
      } catch (err) {
        options.log(`shared cache GC failed: ${(err as Error).message}`);
      } finally {
        running = undefined;
      }
    })();
  };
  const timer = setInterval(tick, options.intervalS * 1000);
  timer.unref();
  tick();
  return {
    async stop() {
      clearInterval(timer);
      await running;
      await cache.close();
    },
  };
}
