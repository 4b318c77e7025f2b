/**
 * The farm's shared state in Redis, written by the API and the workers: one JSON record per build,
 * a newest-first index, the per-build BuildEvent stream, uploaded contexts, and the cancel channel.
 * Every key starts with `builder:<queue>:` so queues (and test runs) never see each other.
 */
import type { Redis } from 'ioredis';
import type { BuildEvent } from '../builder/events.js';
import type { BuildRequest } from '../builder/request.js';

export type BuildState = 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled';
export const BUILD_STATES: BuildState[] = ['queued', 'running', 'succeeded', 'failed', 'cancelled'];
export const isTerminal = (state: BuildState): boolean => state === 'succeeded' || state === 'failed' || state === 'cancelled';

/** One step as the status endpoint shows it. */
export interface StepRecord {
  stepId: string;
  name: string;
  line?: number;
  state: 'running' | 'done' | 'cached' | 'failed';
  cached: boolean;
  /** For a step cached from another worker's record: that worker. */
  builtBy?: string;
  startedAt: number;
  durationMs?: number;
}

/** What `GET /v1/builds/:id` returns (plus the queue position, computed on read). */
export interface BuildRecord {
  id: string;
  state: BuildState;
  request: BuildRequest;
  repository: string;
  createdAt: number;
  startedAt?: number;
  finishedAt?: number;
  steps: StepRecord[];
  imageDigest?: string;
  pushed: { reference: string; digest: string }[];
  /** Cache counters of the last attempt: hits by backend, misses, single-flight waits, bytes fetched/published. */
  cache?: BuildCacheStats;
  error?: { code: string; message: string; file?: string; line?: number };
  cancelReason?: string;
  /** Worker host names that ran it, one per attempt. */
  workers: string[];
}

/** The finished-builds feed the API's metrics read (duration histogram, cache hit ratio). */
/** One build's cache counters (the engine's `result.cache`). */
export interface BuildCacheStats {
  hits: Record<string, number>;
  misses: number;
  waits: number;
  bytesFetched: number;
  bytesPublished: number;
}

export interface FinishedBuild {
  state: BuildState;
  durationMs: number;
  cachedSteps: number;
  executedSteps: number;
  cache?: BuildCacheStats;
}

export class BuildRecords {
  readonly prefix: string;
  private updates: Promise<void> = Promise.resolve();

  constructor(readonly redis: Redis, readonly queue: string) {
    this.prefix = `builder:${queue}`;
  }

  key(id: string): string { return `${this.prefix}:build:${id}`; }
  eventsKey(id: string): string { return `${this.prefix}:build:${id}:events`; }
  contextKey(digest: string): string { return `${this.prefix}:context:${digest}`; }
  traceKey(id: string): string { return `${this.prefix}:trace:${id}`; }
  get cancelChannel(): string { return `${this.prefix}:cancel`; }
  get finishedKey(): string { return `${this.prefix}:finished`; }
  private get indexKey(): string { return `${this.prefix}:builds`; }

  /** Creates the record unless one with this id exists; false when it already did (idempotent submit). */
  async create(record: BuildRecord): Promise<boolean> {
    const created = await this.redis.set(this.key(record.id), JSON.stringify(record), 'NX');
    if (created === 'OK') await this.redis.zadd(this.indexKey, record.createdAt, record.id);
    return created === 'OK';
  }

  async get(id: string): Promise<BuildRecord | undefined> {
    const text = await this.redis.get(this.key(id));
    return text ? (JSON.parse(text) as BuildRecord) : undefined;
  }

  /**
   * Read-modify-write under WATCH, so the API's cancel and a worker's progress never lose each other's
   * change. `change` returns undefined to leave the record as it is.
   */
  update(id: string, change: (record: BuildRecord) => BuildRecord | undefined): Promise<BuildRecord | undefined> {
    // WATCH is per connection: updates from this process take turns so one's EXEC cannot clear another's WATCH.
    const result = this.updates.then(() => this.updateNow(id, change));
    this.updates = result.then(() => undefined, () => undefined);
    return result;
  }

  private async updateNow(id: string, change: (record: BuildRecord) => BuildRecord | undefined): Promise<BuildRecord | undefined> {
    const key = this.key(id);
    for (let attempt = 0; attempt < 50; attempt++) {
      await this.redis.watch(key);
      const text = await this.redis.get(key);
      if (!text) {
        await this.redis.unwatch();
        return undefined;
      }
      const next = change(JSON.parse(text) as BuildRecord);
      if (!next) {
        await this.redis.unwatch();
        return JSON.parse(text) as BuildRecord;
      }
      const result = await this.redis.multi().set(key, JSON.stringify(next)).exec();
      if (result) return next;
    }
    throw new Error(`build ${id}: too many concurrent updates`);
  }

  /** Newest first; `states`/`repository` filter. Returns one page and the cursor of the next. */
  async list(options: { limit: number; cursor?: number; states?: BuildState[]; repository?: string }): Promise<{ builds: BuildRecord[]; next?: number }> {
    const builds: BuildRecord[] = [];
    let offset = options.cursor ?? 0;
    const batch = Math.max(options.limit * 2, 50);
    for (;;) {
      const ids = await this.redis.zrevrange(this.indexKey, offset, offset + batch - 1);
      if (ids.length === 0) return { builds };
      const texts = await this.redis.mget(ids.map((id) => this.key(id)));
      for (let i = 0; i < ids.length; i++) {
        offset++;
        const text = texts[i];
        if (!text) continue;
        const record = JSON.parse(text) as BuildRecord;
        if (options.states && !options.states.includes(record.state)) continue;
        if (options.repository && record.repository !== options.repository) continue;
        builds.push(record);
        if (builds.length === options.limit) return { builds, next: offset };
      }
    }
  }

  /** Appends one BuildEvent to the build's stream; returns its stream id (the SSE event id). */
  async publish(id: string, event: BuildEvent): Promise<string> {
    return (await this.redis.xadd(this.eventsKey(id), '*', 'e', JSON.stringify(event))) as string;
  }

  /** Stream entries after `afterId` ('0' = from the start). */
  async eventsAfter(id: string, afterId: string, count = 1000): Promise<{ streamId: string; event: BuildEvent }[]> {
    const entries = await this.redis.xrange(this.eventsKey(id), afterId === '0' ? '-' : `(${afterId}`, '+', 'COUNT', count);
    return entries.map(([streamId, fields]) => ({ streamId, event: JSON.parse(fields[1] ?? '{}') as BuildEvent }));
  }

  async recordFinished(finished: FinishedBuild): Promise<void> {
    await this.redis.xadd(this.finishedKey, 'MAXLEN', '~', '10000', '*', 'f', JSON.stringify(finished));
  }

  async putContext(digest: string, data: Buffer, ttlSeconds: number): Promise<void> {
    await this.redis.set(this.contextKey(digest), data, 'EX', ttlSeconds);
  }

  /** A build's Chrome/Perfetto trace (JSON text), kept `ttlSeconds` (traces are for looking at recent builds). */
  async putTrace(id: string, json: string, ttlSeconds: number): Promise<void> {
    await this.redis.set(this.traceKey(id), json, 'EX', ttlSeconds);
  }

  async getTrace(id: string): Promise<string | undefined> {
    return (await this.redis.get(this.traceKey(id))) ?? undefined;
  }

  async getContext(digest: string): Promise<Buffer | null> {
    return this.redis.getBuffer(this.contextKey(digest));
  }

  /** Ids of every state's builds (for the metrics gauge); reads at most `limit` newest records. */
  async countByState(limit = 10_000): Promise<Record<BuildState, number>> {
    const counts = Object.fromEntries(BUILD_STATES.map((s) => [s, 0])) as Record<BuildState, number>;
    const ids = await this.redis.zrevrange(this.indexKey, 0, limit - 1);
    for (let i = 0; i < ids.length; i += 500) {
      const texts = await this.redis.mget(ids.slice(i, i + 500).map((id) => this.key(id)));
      for (const text of texts) if (text) counts[(JSON.parse(text) as BuildRecord).state]++;
    }
    return counts;
  }

  /** Removes every key of this queue's farm state (tests clean up with it). */
  async destroy(): Promise<void> {
    let cursor = '0';
    do {
      const [next, keys] = await this.redis.scan(cursor, 'MATCH', `${this.prefix}:*`, 'COUNT', 1000);
      if (keys.length) await this.redis.del(...keys);
      cursor = next;
    } while (cursor !== '0');
  }
}
