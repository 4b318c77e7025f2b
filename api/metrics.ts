/**
 * Prometheus metrics: queue depth and builds by state are read from Redis at scrape time; the duration
 * histogram and cache hit ratio follow the workers' finished-builds feed, so any API replica reports all builds.
 */
import type { Queue } from 'bullmq';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { BuildRequest } from '../builder/request.js';
import type { BuildRecords, FinishedBuild } from '../worker/build-records.js';

/** What needs or holds a worker now; `depth` is what the autoscaler scales on (k8s/autoscaling.yaml). */
export interface QueueDepth {
  depth: number;
  waiting: number;
  prioritized: number;
  dueDelayed: number;
  active: number;
}

export async function queueDepth(queue: Queue<BuildRequest>): Promise<QueueDepth> {
  const counts = await queue.getJobCounts('waiting', 'prioritized', 'active');
  const now = Date.now();
  // At most the 1000 soonest delayed jobs are looked at: beyond that the answer is "scale to max" anyway.
  const delayed = await queue.getDelayed(0, 999);
  const dueDelayed = delayed.filter((job) => job.timestamp + (job.opts.delay ?? 0) <= now).length;
  const [waiting, prioritized, active] = [counts.waiting ?? 0, counts.prioritized ?? 0, counts.active ?? 0];
  return { depth: waiting + prioritized + active + dueDelayed, waiting, prioritized, dueDelayed, active };
}

export class FarmMetrics {
  readonly registry = new Registry();
  private lastFinished = '$';
  private started = false;
  private readonly duration: Histogram;
  private readonly steps: Counter;
  private cached = 0;
  private executed = 0;
  private readonly lookups: Counter;
  private readonly waits: Counter;
  private readonly cacheBytes: Counter;

  constructor(private readonly records: BuildRecords, queue: Queue<BuildRequest>) {
    collectDefaultMetrics({ register: this.registry, prefix: 'builder_api_' });
    new Gauge({
      name: 'builder_queue_depth', help: 'Jobs in the builds queue by BullMQ state', labelNames: ['state'], registers: [this.registry],
      async collect() {
        const counts = await queue.getJobCounts('waiting', 'prioritized', 'active', 'delayed');
        for (const [state, count] of Object.entries(counts)) this.set({ state }, count);
      },
    });
    new Gauge({
      name: 'builder_builds', help: 'Builds by state (newest 10000)', labelNames: ['state'], registers: [this.registry],
      async collect() {
        for (const [state, count] of Object.entries(await records.countByState())) this.set({ state }, count);
      },
    });
    // What KEDA scales on: every job that needs or holds a worker now. Delayed jobs count only once due (a retry in
    // backoff needs no worker yet); KEDA's Redis list scaler would see the wait list only.
    new Gauge({
      name: 'builder_queue_depth_total', help: 'Jobs that need a worker: waiting + prioritized + due delayed + active', registers: [this.registry],
      async collect() {
        this.set((await queueDepth(queue)).depth);
      },
    });
    this.lookups = new Counter({ name: 'builder_cache_lookups_total', help: 'Step cache lookups of finished builds', labelNames: ['backend', 'result'], registers: [this.registry] });
    this.waits = new Counter({ name: 'builder_cache_singleflight_waits_total', help: 'Steps a worker waited for another worker to finish', registers: [this.registry] });
    this.cacheBytes = new Counter({ name: 'builder_cache_bytes_total', help: 'Layer bytes fetched from / published to the cache registry', labelNames: ['direction'], registers: [this.registry] });
    this.duration = new Histogram({
      name: 'builder_build_duration_seconds', help: 'Wall time of finished builds, from start on a worker to the end', labelNames: ['state'],
      buckets: [0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800], registers: [this.registry],
    });
    this.steps = new Counter({ name: 'builder_build_steps_total', help: 'Steps of finished builds', labelNames: ['cached'], registers: [this.registry] });
    const self = this;
    new Gauge({
      name: 'builder_cache_hit_ratio', help: 'Cached steps / all steps of builds finished since this API started', registers: [this.registry],
      collect() { this.set(self.cached + self.executed === 0 ? 0 : self.cached / (self.cached + self.executed)); },
    });
  }

  /** Starts following the feed from now (older builds were counted by whoever ran before). */
  async start(): Promise<void> {
    const last = await this.records.redis.xrevrange(this.records.finishedKey, '+', '-', 'COUNT', 1);
    this.lastFinished = last[0]?.[0] ?? '0';
    this.started = true;
  }

  /** Folds finished builds since the last scrape into the histogram and counters. */
  private async catchUp(): Promise<void> {
    if (!this.started) await this.start();
    for (;;) {
      const entries = await this.records.redis.xrange(this.records.finishedKey, `(${this.lastFinished}`, '+', 'COUNT', 1000);
      for (const [streamId, fields] of entries) {
        this.lastFinished = streamId;
        const finished = JSON.parse(fields[1] ?? '{}') as FinishedBuild;
        this.duration.observe({ state: finished.state }, finished.durationMs / 1000);
        this.steps.inc({ cached: 'true' }, finished.cachedSteps);
        this.steps.inc({ cached: 'false' }, finished.executedSteps);
        if (finished.cache) {
          for (const [backend, hits] of Object.entries(finished.cache.hits)) this.lookups.inc({ backend, result: 'hit' }, hits);
          this.lookups.inc({ backend: 'all', result: 'miss' }, finished.cache.misses);
          this.waits.inc(finished.cache.waits);
          this.cacheBytes.inc({ direction: 'fetched' }, finished.cache.bytesFetched);
          this.cacheBytes.inc({ direction: 'published' }, finished.cache.bytesPublished);
        }
        this.cached += finished.cachedSteps;
        this.executed += finished.executedSteps;
      }
      if (entries.length < 1000) return;
    }
  }

  async render(): Promise<{ contentType: string; body: string }> {
    await this.catchUp();
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
