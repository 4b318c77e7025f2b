/**
 * `builder worker`: a BullMQ Worker on the builds queue. Cancels arrive on a Redis pub/sub channel and
 * abort the running build's sandbox; SIGTERM drains (running builds get a grace period, then are requeued).
 */
import os from 'node:os';
import { Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import type { BuilderConfig } from '../builder/config.js';
import type { BuildRequest } from '../builder/request.js';
import type { Store } from '../builder/store/store.js';
import type { FarmConfig } from '../api/farm-config.js';
import { BuildRecords } from './build-records.js';
import { createProcessor, type AbortReason, type BuildOutcome } from './processor.js';

/** A running worker. */
export interface FarmWorker {
  worker: Worker<BuildRequest, BuildOutcome>;
  /** Stops taking jobs; running builds get `gracePeriodMs` to finish, then are aborted and requeued. Idempotent. */
  drain(gracePeriodMs?: number): Promise<void>;
  /** Aborts every running build now and puts it back in the queue. */
  requeueRunning(): void;
}

export async function startWorker(farm: FarmConfig, builderConfig: BuilderConfig, store: Store): Promise<FarmWorker> {
  const logger = pino({ name: 'builder-worker' });
  const redis = new Redis(farm.redisUrl, { maxRetriesPerRequest: null });
  const subscriber = redis.duplicate();
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
    records, store, builderConfig, hostname: `${os.hostname()}:${process.pid}`, attempts: farm.worker.attempts,
    network: farm.worker.network, allowHostNetwork: farm.worker.allowHostNetwork, networkPolicy: farm.worker.networkPolicy, active, log: (message, fields) => logger.info(fields ?? {}, message),
  });
  const bullConnection = redis.duplicate({ maxRetriesPerRequest: null });
  const worker = new Worker<BuildRequest, BuildOutcome>(farm.queue, processor, {
    connection: bullConnection,
    concurrency: farm.worker.concurrency,
    stalledInterval: farm.worker.stalledIntervalMs,
    lockDuration: farm.worker.lockDurationMs,
    maxStalledCount: 2,
  });
  worker.on('error', (err) => logger.error({ err }, 'worker error'));
  worker.on('failed', (job, err) => logger.info({ id: job?.id, err: err.message }, 'build failed'));
  worker.on('completed', (job) => logger.info({ id: job.id }, 'build finished'));
  await worker.waitUntilReady();
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
