/**
 * The farm's shared cache: the index in Redis, the layer blobs in a registry repository.
 *
 * Redis keys (prefix `builder:cache:<repo>:`): `rec:<key>` the record (what a local record is, plus `builtBy` and
 * `blobRepo`), `lru` a sorted set of keys by last use (the size bound evicts the oldest), `lease:<key>` the
 * single-flight lease (`SET NX PX`, renewed while the step runs), `trace:<identity>` miss explanations,
 * `next:<key>` the keys most recently built on top of a record (read-ahead, cache/shared-prefetch.ts), `held:<key>`
 * the repositories a manifest ending with that step was pushed to (cache/shared-held.ts).
 * A record is written only after its blob is in the repository, so a reader never sees a record without a blob.
 * Every failure (Redis down, registry down, a record whose blob is gone) warns and misses; none fails a build.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { Redis } from 'ioredis';
import type { BuilderConfig } from '../builder/config.js';
import { loadConfig } from '../builder/config.js';
import { errorMessage } from '../builder/errors.js';
import type { Layer } from '../builder/image/types.js';
import type { Store } from '../builder/store/store.js';
import type { RegistryClient } from '../builder/registry/client.js';
import type { BlobProblem, CacheBackend, CacheCall, CacheEntry, CacheHit, CacheLease } from './backend.js';
import type { CacheKey } from './key.js';
import { NEXT_KEPT, RecordPrefetch, type WalkedRecord } from './shared-prefetch.js';
import { parseHeld, recordHeld } from './shared-held.js';
import { TouchBatch } from './shared-touch.js';
import type { StepTrace } from './explain.js';

export interface SharedCacheOptions {
  redisUrl: string;
  /** `HOST/REPO` of the registry repository that holds the blobs. */
  repo: string;
  store: Store;
  workerName: string;
  config?: BuilderConfig;
  /** LRU bound of the index, in records (default 100,000). */
  maxRecords?: number;
  /** Lease expiry; renewed every third of it while the holder runs (default 15 s). */
  leaseMs?: number;
  /** A waiter gives up after this long and runs the step itself (default 10 min). */
  waitLimitMs?: number;
  /** How often a waiter looks for the record (default 250 ms). */
  pollMs?: number;
}

interface SharedRecord extends CacheEntry {
  blobRepo?: string;
  builtBy: string;
}

/** After a failure the backend is skipped this long, so a Redis that is down costs one timeout, not one per step. */
const DOWN_MS = 15_000;
const TRACE_TTL_S = 30 * 24 * 3600;

const RENEW = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end";
const RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end";

export class SharedCache implements CacheBackend {
  readonly name = 'shared';
  readonly redis: Redis;
  private readonly prefix: string;
  private downUntil = 0;
  private client?: Promise<RegistryClient>;
  private readonly prefetch: RecordPrefetch;
  private readonly touches: TouchBatch;

  constructor(private readonly options: SharedCacheOptions) {
    this.prefix = `builder:cache:${options.repo}:`;
    // Fail fast: a cache that is down must not hold a build up (commands give up after one reconnect attempt).
    this.redis = new Redis(options.redisUrl, {
      maxRetriesPerRequest: 1, connectTimeout: 2000, commandTimeout: 5000, lazyConnect: true,
      retryStrategy: (times) => Math.min(times * 200, 2000),
    });
    this.redis.on('error', () => undefined); // reported per call, as a warning
    this.prefetch = new RecordPrefetch(this.redis, this.prefix);
    this.touches = new TouchBatch(this.redis, this.prefix);
  }

  /**
   * Opens the Redis connection and the registry client ahead of the first build (a worker starts long before its first
   * job), so a fresh worker's first lookup is one round trip, not a connect. Settles when both are done or failed
   * (a Redis that is down costs its connect timeout here instead of at the first lookup); failures stay quiet here:
   * the first lookup reports them as it always did.
   */
  async warm(): Promise<void> {
    await Promise.all([
      this.redis.status === 'wait' ? this.redis.connect().catch(() => undefined) : undefined,
      this.registry().catch(() => undefined),
    ]);
  }

  /** Redis key names, for the GC (cache/shared-gc.ts). */
  key(name: string): string {
    return `${this.prefix}${name}`;
  }

  registryClient(): Promise<RegistryClient> {
    return this.registry();
  }

  get repo(): string {
    return this.options.repo;
  }

  private available(): boolean {
    return Date.now() >= this.downUntil;
  }

  private down(call: CacheCall, what: string, err: unknown): void {
    this.downUntil = Date.now() + DOWN_MS;
    call.warn(`shared cache: ${what} failed (${errorMessage(err)}); building without it for now`);
  }

  private registry(): Promise<RegistryClient> {
    this.client ??= (async () => {
      const [{ RegistryClient }, { Authorizer }, { registryEndpoint }, { splitRepository }] = await Promise.all([
        import('../builder/registry/client.js'), import('../builder/registry/auth.js'),
        import('../builder/registry/endpoints.js'), import('../builder/registry/blob-fetch.js'),
      ]);
      const { authority, repository } = splitRepository(this.options.repo);
      const config = this.options.config ?? (await loadConfig());
      return new RegistryClient(registryEndpoint(authority, config), repository, new Authorizer(), 'pull,push');
    })();
    return this.client;
  }

  async get(key: CacheKey, call: CacheCall): Promise<CacheHit | undefined> {
    if (!this.available()) return undefined;
    let walked: WalkedRecord | null | undefined = await this.prefetch.take(key);
    if (walked === undefined) {
      try {
        // The next steps of this build are most likely records built on top of this one: they come in the same call.
        walked = await this.prefetch.read(key);
      } catch (err) {
        this.down(call, `reading the index at ${this.options.redisUrl}`, err);
        return undefined;
      }
    }
    if (!walked?.record) return undefined;
    let record: SharedRecord;
    try {
      record = JSON.parse(walked.record) as SharedRecord;
      if (typeof record.delta !== 'object' || typeof record.createdBy !== 'string') throw new Error('not a cache record');
    } catch {
      call.warn(`shared cache record ${key} is unreadable; dropping it`);
      await this.forget(key);
      return undefined;
    }
    // A fact that is not repository → digest is ignored (the push then asks for its blobs, as without facts).
    const facts = parseHeld(walked.held);
    if (facts.corrupt) call.warn(`shared cache: the push facts of ${key} are unreadable; ignoring them`);
    let blobSource: string | undefined;
    let check: (() => Promise<BlobProblem | undefined>) | undefined;
    // A synchronous stat, as local.ts reads its records: microseconds, where a thread-pool hop per step showed in a
    // fresh worker's fully cached build (~0.5 ms a lookup, most of what its steps cost).
    if (record.layer && !existsSync(this.options.store.blobPath(record.layer.digest))) {
      // The registry HEAD runs beside the rest of the build instead of before the next step (the build awaits it
      // before writing the image): a fresh worker's fully cached build pays one round trip, not one per layer.
      const layer = record.layer;
      check = () => this.checkBlob(key, record, layer, call);
      blobSource = record.blobRepo ?? this.options.repo;
    }
    // A blob a build may still fetch or mount is "in use": `prune --shared` leaves it alone for a grace period.
    // Both stamps of every hit of a burst go in one write, not awaited (cache/shared-touch.ts).
    this.touches.add(key, record.layer?.digest);
    const builtBy = record.builtBy && record.builtBy !== this.options.workerName ? record.builtBy : undefined;
    return {
      layer: record.layer, delta: record.delta, createdBy: record.createdBy, preimage: record.preimage,
      backend: this.name, ...(builtBy ? { builtBy } : {}), ...(blobSource ? { blobSource, check } : {}),
      ...(facts.held ? { heldIn: facts.held } : {}),
    };
  }

  /** Whether the repository has the record's blob with the recorded size; a record whose blob is gone or wrong is dropped. */
  private async checkBlob(key: CacheKey, record: SharedRecord, layer: Layer, call: CacheCall): Promise<BlobProblem | undefined> {
    const size = await this.blobSize(layer, call);
    if (size === 'down') return { message: `shared cache: cannot check layer ${layer.digest} in ${this.options.repo}`, keepRecord: true };
    if (size === layer.size) return undefined;
    const problem = size === undefined ? 'is gone from' : `has ${size} bytes (expected ${layer.size}) in`;
    await this.forget(key);
    return { message: `shared cache record for "${record.createdBy}": layer ${layer.digest} ${problem} ${this.options.repo}` };
  }

  private async blobSize(layer: Layer, call: CacheCall): Promise<number | undefined | 'down'> {
    try {
      const client = await this.registry();
      return await client.headBlob(layer.digest, `checking cached layer ${layer.digest} in ${this.options.repo}`);
    } catch (err) {
      this.down(call, `checking a layer in ${this.options.repo}`, err);
      return 'down';
    }
  }

  /** Publishes the layer blob (HEAD, else upload), then the record. Returns the bytes uploaded. */
  async put(key: CacheKey, entry: CacheEntry, call: CacheCall, layerPath?: string): Promise<void> {
    if (!this.available()) return;
    let uploaded = 0;
    if (entry.layer) {
      if (!layerPath) return;
      try {
        // Stamped in use before the upload: a `prune --shared` between the upload and the record must not take it.
        await this.redis.zadd(`${this.prefix}inuse`, Date.now(), entry.layer.digest);
        const { uploadBlob, DEFAULT_CHUNK_SIZE } = await import('../builder/registry/blob-upload.js');
        const client = await this.registry();
        const outcome = await uploadBlob(client, layerPath, entry.layer, `publishing layer ${entry.layer.digest} to the cache ${this.options.repo}`, {
          chunkSize: DEFAULT_CHUNK_SIZE, mountFrom: [],
        });
        if (outcome === 'uploaded') uploaded = entry.layer.size;
        await this.redis.sadd(`${this.prefix}blobs`, entry.layer.digest);
      } catch (err) {
        this.down(call, `publishing a layer to ${this.options.repo}`, err);
        return;
      }
    }
    const record: SharedRecord = {
      layer: entry.layer, delta: entry.delta, createdBy: entry.createdBy, preimage: entry.preimage,
      builtBy: this.options.workerName, ...(entry.layer ? { blobRepo: this.options.repo } : {}),
    };
    try {
      const write = this.redis.multi()
        .set(`${this.prefix}rec:${key}`, JSON.stringify(record))
        .zadd(`${this.prefix}lru`, Date.now(), key);
      // What was built on top of what, for the read-ahead (cache/shared-prefetch.ts); the most recent children only.
      const parent = entry.preimage?.parent;
      if (parent) write.zadd(`${this.prefix}next:${parent}`, Date.now(), key).zremrangebyrank(`${this.prefix}next:${parent}`, 0, -(NEXT_KEPT + 1));
      await write.exec();
      call.published?.(uploaded);
      await this.evict();
    } catch (err) {
      this.down(call, `writing the index at ${this.options.redisUrl}`, err);
    }
  }

  /** The size bound: the least recently used records beyond `maxRecords` go (their blobs are left to `prune --shared`). */
  private async evict(): Promise<void> {
    const max = this.options.maxRecords ?? 100_000;
    const count = await this.redis.zcard(`${this.prefix}lru`);
    if (count <= max) return;
    const oldest = await this.redis.zpopmin(`${this.prefix}lru`, count - max);
    const keys = oldest.filter((_, i) => i % 2 === 0);
    if (keys.length > 0) await this.redis.del(...keys.flatMap((k) => [`${this.prefix}rec:${k}`, `${this.prefix}next:${k}`, `${this.prefix}held:${k}`]));
  }

  /**
   * Publishes that `repository` (`authority/repository`) now holds `manifestDigest`, the image ending with step `key`
   * (cache/shared-held.ts). Not awaited by the build: a lost fact costs the next fresh push its HEADs, nothing more.
   */
  recordHeld(key: CacheKey, repository: string, manifestDigest: string): void {
    if (!this.available()) return;
    recordHeld(this.redis, this.prefix, key, repository, manifestDigest).catch(() => undefined);
  }

  async getTrace(identity: string, call: CacheCall): Promise<StepTrace | undefined> {
    if (!this.available()) return undefined;
    try {
      const text = await this.redis.get(`${this.prefix}trace:${identity}`);
      return text ? (JSON.parse(text) as StepTrace) : undefined;
    } catch (err) {
      this.down(call, `reading a miss explanation at ${this.options.redisUrl}`, err);
      return undefined;
    }
  }

  async putTrace(identity: string, trace: StepTrace, call: CacheCall): Promise<void> {
    if (!this.available()) return;
    // Traces explain the next miss at the same place; a month without a build of that place forgets them.
    await this.redis.set(`${this.prefix}trace:${identity}`, JSON.stringify(trace), 'EX', TRACE_TTL_S).catch((err: unknown) => this.down(call, 'writing a miss explanation', err));
  }

  async forget(key: CacheKey): Promise<void> {
    this.prefetch.drop(key);
    await this.redis.multi().del(`${this.prefix}rec:${key}`).zrem(`${this.prefix}lru`, key).exec().catch(() => undefined);
  }

  /**
   * Single-flight: the first worker to SET the lease runs the step; the others poll for its record. A holder that
   * dies stops renewing, its lease expires and a waiter takes it over. A waiter gives up after `waitLimitMs`.
   */
  async acquire(key: CacheKey, call: CacheCall, onWait: (holder: string) => void): Promise<CacheLease | CacheHit> {
    const noLease: CacheLease = { release: async () => {} };
    if (!this.available()) return noLease;
    const leaseKey = `${this.prefix}lease:${key}`;
    const token = `${this.options.workerName} ${randomBytes(6).toString('hex')}`;
    const leaseMs = this.options.leaseMs ?? 15_000;
    const deadline = Date.now() + (this.options.waitLimitMs ?? 10 * 60_000);
    let waitedFor: string | undefined;
    try {
      for (;;) {
        if (call.signal?.aborted) return noLease;
        if ((await this.redis.set(leaseKey, token, 'PX', leaseMs, 'NX')) === 'OK') {
          // The holder may have finished between our miss and our SET: look once more before running.
          const hit = waitedFor ? await this.get(key, call) : undefined;
          if (hit) {
            await this.redis.eval(RELEASE, 1, leaseKey, token);
            return hit;
          }
          return this.heldLease(leaseKey, token, leaseMs);
        }
        const holder = ((await this.redis.get(leaseKey)) ?? '').split(' ')[0] ?? '';
        if (waitedFor === undefined) {
          waitedFor = holder;
          onWait(holder);
        }
        const hit = await this.get(key, call);
        if (hit) return hit;
        if (Date.now() > deadline) {
          call.warn(`waited ${Math.round((this.options.waitLimitMs ?? 600_000) / 1000)}s for ${holder || 'another worker'} to finish a step; running it here`);
          return noLease;
        }
        await sleep(this.options.pollMs ?? 250, call.signal);
      }
    } catch (err) {
      this.down(call, `taking a build lease at ${this.options.redisUrl}`, err);
      return noLease;
    }
  }

  private heldLease(leaseKey: string, token: string, leaseMs: number): CacheLease {
    const timer = setInterval(() => {
      this.redis.eval(RENEW, 1, leaseKey, token, String(leaseMs)).catch(() => undefined);
    }, Math.max(100, Math.floor(leaseMs / 3)));
    timer.unref();
    let released = false;
    return {
      release: async () => {
        if (released) return;
        released = true;
        clearInterval(timer);
        await this.redis.eval(RELEASE, 1, leaseKey, token).catch(() => undefined);
      },
    };
  }

  async close(): Promise<void> {
    this.touches.flush();
    await this.redis.quit().catch(() => this.redis.disconnect());
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => { clearTimeout(timer); resolve(); }, { once: true });
  });
}
