/**
 * `builder worker`: a BullMQ Worker on the builds queue. Cancels arrive on a Redis pub/sub channel and
 * abort the running build's sandbox; SIGTERM drains (running builds get a grace period, then are requeued).
 */
import os from 'node:os';
import { Worker } from 'bullmq';
import { pino } from 'pino';
import type { BuilderConfig } from '../builder/config.js';
import type { BuildRequest } from '../builder/request.js';
import type { Engine } from '../builder/engine.js';
import type { FarmConfig } from '../api/farm-config.js';
import { BuildRecords } from './build-records.js';
import { duplicateFarmRedis, farmRedis } from './farm-redis.js';
import { ABANDONED_MESSAGES, createProcessor, failAbandoned, type AbortReason, type BuildOutcome } from './processor.js';
import { HeapTrim, type HeapTrimResult } from './heap-trim.js';

/** A running worker. */
export interface FarmWorker {
  worker: Worker<BuildRequest, BuildOutcome>;
  /** Stops taking jobs; running builds get `gracePeriodMs` to finish, then are aborted and requeued. Idempotent. */
  drain(gracePeriodMs?: number): Promise<void>;
  /** Aborts every running build now and puts it back in the queue. */
  requeueRunning(): void;
}

export async function startWorker(farm: FarmConfig, builderConfig: BuilderConfig, engine: Engine): Promise<FarmWorker> {
  const logger = pino({ name: 'builder-worker' });
  const warn = (message: string): void => logger.warn(message);
  const redis = farmRedis(farm.redisUrl, warn);
  const subscriber = duplicateFarmRedis(redis, warn);
  const records = new BuildRecords(redis, farm.queue);
  const active = new Map<string, { controller: AbortController; reason?: AbortReason }>();
  const abort = (id: string, reason: AbortReason): void => {
    const entry = active.get(id);
    if (!entry || entry.controller.signal.aborted) return;
    entry.reason = reason;
    entry.controller.abort();
  };

  await subscriber.subscribe(records.cancelChannel);
  subscriber.on('message', (_channel: string, message: string) => {
    const { id, reason } = JSON.parse(message) as { id: string; reason: string };
    abort(id, { kind: 'cancel', message: reason });
  });

  const processor = createProcessor({
    records, engine, builderConfig, cacheRepo: farm.worker.cacheRepo, hostname: `${os.hostname()}:${process.pid}`, attempts: farm.worker.attempts,
    network: farm.worker.network, allowHostNetwork: farm.worker.allowHostNetwork, networkPolicy: farm.worker.networkPolicy, gitPolicy: farm.git, active, log: (message, fields) => logger.info(fields ?? {}, message),
  });
  const bullConnection = redis.duplicate({ maxRetriesPerRequest: null });
  const worker = new Worker<BuildRequest, BuildOutcome>(farm.queue, processor, {
    connection: bullConnection,
    // The name shows in Queue.getWorkers(): the farm page lists workers by it.
    name: `${os.hostname()}:${process.pid}`,
    concurrency: farm.worker.concurrency,
    stalledInterval: farm.worker.stalledIntervalMs,
    lockDuration: farm.worker.lockDurationMs,
    maxStalledCount: 2,
  });
  worker.on('error', (err) => logger.error({ err }, 'worker error'));
  // Between builds, a major GC once the old generation holds 8 MiB of garbage (worker/heap-trim.ts): RSS stays level.
  const heapTrim = new HeapTrim();
  const trim = (): { gc?: HeapTrimResult } => {
    const gc = heapTrim.afterBuild();
    return gc.collected ? { gc } : {};
  };
  worker.on('failed', (job, err) => {
    logger.info({ id: job?.id, err: err.message, ...trim() }, 'build failed');
    // BullMQ fails a job its workers died under too often without calling the processor: end the record here.
    if (job?.id && ABANDONED_MESSAGES.includes(err.message)) {
      void failAbandoned(records, job.id, err.message).then(
        (ended) => { if (ended) logger.info({ id: job.id }, 'build failed: its workers died under it too often'); },
        (failure: unknown) => logger.error({ err: failure, id: job.id }, 'could not end an abandoned build\'s record'),
      );
    }
  });
  // Memory after each build: a farm operator (and the farm bench) tells a leak (heapUsed grows) from an allocator
  // that keeps what it once needed (rss grows, heapUsed does not).
  worker.on('completed', (job) => {
    const gc = trim();
    logger.info({ id: job.id, memory: memoryMiB(), ...gc }, 'build finished');
  });
  await worker.waitUntilReady();
  const gc = farm.worker.cacheRepo && farm.worker.cacheGcIntervalS > 0
    ? await (await import('./shared-gc-timer.js')).startSharedGc({
      redisUrl: farm.redisUrl, repo: farm.worker.cacheRepo, store: engine.store, workerName: `${os.hostname()}:${process.pid}`,
      intervalS: farm.worker.cacheGcIntervalS, log: (message, fields) => logger.info(fields ?? {}, message),
    })
    : undefined;
  logger.info({ queue: farm.queue, concurrency: farm.worker.concurrency }, 'worker ready');

  let draining: Promise<void> | undefined;
  const requeueRunning = (): void => {
    for (const id of active.keys()) abort(id, { kind: 'shutdown' });
  };
  return {
    worker,
    requeueRunning,
    drain(gracePeriodMs = farm.worker.gracePeriodMs) {
      draining ??= (async () => {
        logger.info({ gracePeriodMs, running: active.size }, 'draining');
        const timer = setTimeout(requeueRunning, gracePeriodMs);
        try {
          await worker.close();
        } finally {
          clearTimeout(timer);
          await gc?.stop().catch(() => undefined);
          await subscriber.quit().catch(() => undefined);
          await redis.quit().catch(() => undefined);
          await bullConnection.quit().catch(() => undefined);
        }
        logger.info('drained');
      })();
      return draining;
    },
  };
}

/** process.memoryUsage() in MiB (one decimal). */
export function memoryMiB(): Record<'rss' | 'heapTotal' | 'heapUsed' | 'external' | 'arrayBuffers', number> {
  const usage = process.memoryUsage();
  const mib = (bytes: number): number => Math.round((bytes / 1048576) * 10) / 10;
  return { rss: mib(usage.rss), heapTotal: mib(usage.heapTotal), heapUsed: mib(usage.heapUsed), external: mib(usage.external), arrayBuffers: mib(usage.arrayBuffers) };
}
