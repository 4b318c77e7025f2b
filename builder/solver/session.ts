/**
 * A BuildSession is everything that lives exactly as long as one build: the one event sink (step logs clipped
 * here, once, for every front door), warnings as `warning` events, memos (remote downloads, image resolutions)
 * and the cleanups that run when the build ends. Nothing per build lives in a module-level map.
 */
import { rm } from 'node:fs/promises';
import { BuildError } from '../errors.js';
import type { Layer } from '../image/types.js';
import type { BlobProblem, CacheEntry } from '../../cache/backend.js';
import { STEP_LOG_LIMIT, type BuildEvent, type EventSink } from '../events.js';
import { Tracer } from '../trace/tracer.js';

/** Cache counters of one build: for the build record and /metrics. */
export class CacheStats {
  hits: Record<string, number> = {};
  misses = 0;
  waits = 0;
  bytesFetched = 0;
  bytesPublished = 0;
  hit(backend: string): void { this.hits[backend] = (this.hits[backend] ?? 0) + 1; }
  miss(): void { this.misses++; }
  waited(): void { this.waits++; }
  toJSON(): { hits: Record<string, number>; misses: number; waits: number; bytesFetched: number; bytesPublished: number } {
    return { hits: this.hits, misses: this.misses, waits: this.waits, bytesFetched: this.bytesFetched, bytesPublished: this.bytesPublished };
  }
}

export class BuildSession {
  readonly stats = new CacheStats();
  /** Layers a cache hit named that are not in the local store: digest → the key that named it and where it lives. */
  readonly remoteLayers = new Map<string, { key: string; source: string; layer: Layer; keepRecord?: boolean }>();
  /** Blob checks of cache hits still in flight (CacheHit.check), by layer digest: awaited before the image is written. */
  private readonly checks = new Map<string, () => Promise<BlobProblem | undefined>>();
  /**
   * Set by the engine for a build that pushes: its checks start only if its push's HEADs do not prove the layers
   * (solver/export-image.ts); a HEAD in the cache repository per hit was most of what a fresh worker's build paid.
   */
  deferBlobChecks = false;
  /**
   * `authority/repository@manifestDigest` the farm says a push completed in, from this build's shared-cache hits
   * (CacheHit.heldIn): the push of that manifest there need not ask for its blobs (registry/push.ts).
   */
  readonly heldManifests = new Set<string>();
  private readonly broken = new Set<string>();
  /** The records this build used (hits and new ones), by stage index, for `--cache-to`. */
  readonly usedRecords = new Map<number, Map<string, CacheEntry>>();
  private readonly logged = new Map<string, number>();
  private readonly warned = new Set<string>();
  private readonly cleanups: (() => Promise<void>)[] = [];
  private readonly memos = new Map<string, Promise<unknown>>();

  /** The build's spans (builder/trace): written with `--trace FILE`, kept by the farm, sent over OTLP when configured. */
  readonly tracer: Tracer;

  constructor(private readonly sink: EventSink, readonly signal?: AbortSignal, tracer?: Tracer) {
    this.tracer = tracer ?? new Tracer();
  }

  /** The build's event sink; a step's log beyond STEP_LOG_LIMIT is dropped after one note. */
  readonly emit = (event: BuildEvent): void => {
    if (event.type === 'step.log') {
      const before = this.logged.get(event.stepId) ?? 0;
      const after = before + event.data.length;
      this.logged.set(event.stepId, after);
      if (after > STEP_LOG_LIMIT) {
        if (before <= STEP_LOG_LIMIT) this.sink({ ...event, data: '\n[output clipped, log limit 2MiB reached]\n' });
        return;
      }
    }
    this.sink(event);
  };

  /** A warning event, once per distinct message: a cache that is down would otherwise warn at every step. */
  readonly warn = (message: string, stepId?: string): void => {
    if (this.warned.has(message)) return;
    this.warned.add(message);
    this.emit({ type: 'warning', message, ...(stepId ? { stepId } : {}), time: Date.now() });
  };

  /** One computation per key per build (a download, a clone, an image resolution). A failure is forgotten so a later ask retries. */
  memo<T>(key: string, compute: () => Promise<T>): Promise<T> {
    let entry = this.memos.get(key) as Promise<T> | undefined;
    if (!entry) {
      entry = compute();
      this.memos.set(key, entry);
      entry.catch(() => this.memos.delete(key));
    }
    return entry;
  }

  /** Runs when the build ends, whatever its outcome. */
  onCleanup(cleanup: () => Promise<void>): void {
    this.cleanups.push(cleanup);
  }

  /** Removes `dir` when the build ends. */
  removeAtEnd(dir: string): void {
    this.onCleanup(() => rm(dir, { recursive: true, force: true }));
  }

  private readonly pending = new Set<Promise<void>>();

  /**
   * Work the next step need not wait for (a layer blob being compressed, the cache record written after it, a
   * miss-explanation record, removing a spent mount's directory): it runs beside the build and is awaited before
   * the build returns (settle/close). Its failure never fails the build: whoever needs its result (the manifest
   * write settles its layers) reports it.
   */
  later(task: Promise<unknown>): void {
    const settled: Promise<void> = task.then(() => undefined, () => undefined).finally(() => this.pending.delete(settled));
    this.pending.add(settled);
  }

  /** Waits for everything handed to later(), including what that work hands on. */
  async settle(): Promise<void> {
    while (this.pending.size > 0) await Promise.all([...this.pending]);
  }

  private markEnded: () => void = () => undefined;
  /**
   * Settles once close() has run the cleanups: work that outlives the build's result (a pushed image's local save,
   * solver/export-image.ts) waits for it, so its file writes do not compete with the build's own end for the pool.
   */
  readonly ended = new Promise<void>((resolve) => { this.markEnded = resolve; });

  /** Waits for later() work, then runs every cleanup (newest first); cleanups never fail the build. */
  async close(): Promise<void> {
    try {
      await this.settle();
      for (const cleanup of this.cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
    } finally {
      this.markEnded();
    }
  }

  used(stage: number, key: string, entry: CacheEntry): void {
    let records = this.usedRecords.get(stage);
    if (!records) this.usedRecords.set(stage, (records = new Map()));
    records.set(key, { layer: entry.layer, delta: entry.delta, createdBy: entry.createdBy, preimage: entry.preimage });
  }

  remoteLayer(layer: Layer, key: string, source: string, check?: () => Promise<BlobProblem | undefined>): void {
    if (!this.remoteLayers.has(layer.digest)) this.remoteLayers.set(layer.digest, { key, source, layer });
    if (!check || this.checks.has(layer.digest)) return;
    if (this.deferBlobChecks) {
      let started: Promise<BlobProblem | undefined> | undefined;
      this.checks.set(layer.digest, () => (started ??= check()));
    } else {
      const started = check();
      this.checks.set(layer.digest, () => started);
    }
  }

  /**
   * Awaits the blob checks of this attempt's hits; the first problem throws a BlobUnavailableError, which the engine
   * answers by dropping that record and building again. Called before the image is written, so no tag names a layer
   * the cache does not have. `proven` (a build that pushes): whether the push's HEAD found that layer, with its size,
   * in the target repository; then its check is not needed for the pushed manifest and is not run.
   */
  async settleChecks(proven?: (digest: string) => Promise<boolean>): Promise<void> {
    const pending = [...this.checks];
    this.checks.clear();
    const results = await Promise.all(pending.map(async ([digest, check]) => ({
      digest, problem: (await proven?.(digest)) ? undefined : await check(),
    })));
    const failed = results.find((r) => r.problem);
    if (!failed?.problem) return;
    const remote = this.remoteLayers.get(failed.digest);
    if (remote && failed.problem.keepRecord) remote.keepRecord = true;
    const { BlobUnavailableError } = await import('../registry/blob-unavailable.js');
    throw new BlobUnavailableError(failed.digest, failed.problem.message);
  }

  /** A new attempt of the build: checks of the one before no longer matter. */
  dropChecks(): void { this.checks.clear(); }

  /** A key whose record proved broken in this build (its blob gone or corrupt): it misses from now on. */
  markBroken(key: string): void { this.broken.add(key); }
  isBroken(key: string): boolean { return this.broken.has(key); }

  /** Throws the build's cancellation if it was cancelled: long loops call this between items. */
  checkCancelled(): void {
    if (this.signal?.aborted) throw new BuildError('CANCELLED', 'build cancelled');
  }

  private sinceYield = 0;

  /**
   * For loops whose items may all complete without I/O (cached metadata steps read small records synchronously):
   * every few items, let the event loop run, so a signal (SIGTERM → abort) is seen at all, then check it.
   */
  async checkpoint(): Promise<void> {
    if (++this.sinceYield >= 64) {
      this.sinceYield = 0;
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    this.checkCancelled();
  }
}
