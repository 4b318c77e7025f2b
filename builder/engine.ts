/**
 * The one composition root. Only the engine opens the Store, the Snapshots, build leases and the cache backends;
 * the CLI (cli/build.ts), the farm worker (worker/processor.ts) and the daemon call `engine.build()`.
 *
 * Stable entry point: `engine.build(request, { signal, onEvent })` → `{ manifest, config, tags, cache, saved }` (`saved`: a pushed
 * build's local save, which ends after the result; awaited by the next build, idle() and close()).
 * Every BuildEvent of the build (warnings included) goes to `onEvent`, logs already clipped; the last one is
 * `build.done`. Errors are BuildErrors. Cache failures never fail a build: they become `warning` events.
 */
import { statSync } from 'node:fs';
import os from 'node:os';
import type { BuilderConfig } from './config.js';
import { BuildError, errorMessage } from './errors.js';
import type { EventSink } from './events.js';
import { storeSnapshots } from './snapshot/store-snapshots.js';
import type { Snapshots } from './snapshot/snapshots.js';
import { extendBuildLease, withTracedBuildLease } from './store/gc-lease.js';
import { Store } from './store/store.js';
import type { LocalBuildOptions } from './solver/request.js';
import { BuildSession, type CacheStats } from './solver/session.js';
import { Tracer } from './trace/tracer.js';
import { solve, type BuildResult } from './solver/solve.js';
import type { CacheBackend } from '../cache/backend.js';
import { LocalCache } from '../cache/local.js';
import type { CacheExportSpec, CacheImportSpec } from '../cache/transfer-format.js';

/** Which cache the engine uses. `shared` and `tiered` need Redis (the index) and a registry repository (the blobs). */
export type CacheOptions =
  | { type: 'local' }
  | { type: 'shared' | 'tiered'; redisUrl: string; repo: string; maxRecords?: number; leaseMs?: number; waitLimitMs?: number };

export interface EngineOptions {
  /** BUILDER_ROOT; the default root when absent. */
  root?: string;
  cache?: CacheOptions;
  /** Who this engine is, in shared records and `CACHED (built by …)`: `host:pid` by default. */
  workerName?: string;
  /** Registry settings (mirrors, insecure hosts) for the cache repository; read from the config file when absent. */
  config?: BuilderConfig;
}

/** What one build needs besides the request. */
export interface BuildCall {
  signal?: AbortSignal;
  onEvent?: EventSink;
  /**
   * The build's tracer, when the caller writes the trace itself (`--trace FILE`, the farm's per-build trace) or adds
   * spans after the build (push). Without one the engine makes its own and sends it over OTLP if that is configured.
   */
  tracer?: Tracer;
}

export type EngineBuildRequest = Omit<LocalBuildOptions, 'signal'> & {
  /** `--cache-from`: read these caches too (records now, layers when needed). */
  cacheFrom?: CacheImportSpec[];
  /** `--cache-to`: export the records this build used. */
  cacheTo?: CacheExportSpec[];
};

export interface EngineBuildResult extends BuildResult {
  /** Cache counters of this build: hits by backend, misses, single-flight waits, bytes fetched and published. */
  cache: ReturnType<CacheStats['toJSON']>;
  /**
   * Settles when the image is in the local store and tagged. A build that pushes returns when its push is done and
   * saves locally after (solver/export-image.ts); any other build has saved before it returns. Never rejects: a
   * failed save is a `warning` event (sent after `build.done`), and this settles with its text.
   */
  saved: Promise<string | undefined>;
}

export interface Engine {
  readonly store: Store;
  readonly snapshots: Snapshots;
  readonly cache: CacheBackend;
  build(request: EngineBuildRequest, call?: BuildCall): Promise<EngineBuildResult>;
  /** Waits for the local saves of pushed builds still under way (each build's `saved`). */
  idle(): Promise<void>;
  /** Waits for those saves, then closes what the engine opened. */
  close(): Promise<void>;
}

/** A broken cached blob restarts the build at most this many times (each time with that record dropped). */
const REPAIR_ATTEMPTS = 4;

export async function createEngine(options: EngineOptions = {}): Promise<Engine> {
  const store = await Store.open(options.root);
  // A direct stat (microseconds) per cached layer step, not a thread-pool round trip (0.1–0.5 ms under load).
  const local = new LocalCache(store.cacheDir, async (digest) => blobSizeNow(store.blobPath(digest)));
  let cache: CacheBackend = local;
  const cacheOptions = options.cache ?? { type: 'local' };
  const preferredSources: string[] = [];
  let shared: import('../cache/shared.js').SharedCache | undefined;
  if (cacheOptions.type !== 'local') {
    const { SharedCache } = await import('../cache/shared.js');
    shared = new SharedCache({ ...cacheOptions, store, workerName: options.workerName ?? process.env.BUILDER_WORKER_NAME ?? defaultWorkerName(), config: options.config });
    // Connected before the engine is handed out: a worker's first job (or a CLI build's first lookup) does not pay the connect.
    await shared.warm();
    preferredSources.push(cacheOptions.repo);
    if (cacheOptions.type === 'shared') cache = shared;
    else cache = new (await import('../cache/tiered.js')).TieredCache(local, shared);
  }
  const active = new Set<BuildSession>();
  // Pushed builds' local saves still under way: a later build of this engine (which may be FROM that tag), idle() and
  // close() wait for them, so in one process a build always sees the tags of the builds before it.
  const saving = new Set<Promise<unknown>>();
  const idle = async (): Promise<void> => {
    while (saving.size > 0) await Promise.all(saving);
  };
  // Snapshots are shared by every build of the engine: a fetched layer is counted for the builds whose hits named it.
  const sourcesFor = (digest: string): string[] => {
    const named = [...active].map((session) => session.remoteLayers.get(digest)?.source).filter((s): s is string => s !== undefined);
    return [...named, ...preferredSources];
  };
  const snapshots = storeSnapshots(store, sourcesFor, (layer, bytes) => {
    for (const session of active) if (session.remoteLayers.has(layer.digest)) session.stats.bytesFetched += bytes;
  });

  return {
    store, snapshots, cache,
    async build(request, call = {}) {
      await idle();
      const session = new BuildSession(call.onEvent ?? (() => {}), call.signal, call.tracer ?? new Tracer());
      const started = Date.now();
      active.add(session);
      try {
        // The lease keeps a concurrent `builder prune` from deleting blobs or snapshots this build is using.
        const { cacheFrom = [], cacheTo = [], ...options } = request;
        // A build that pushes lets its push's HEADs prove its cached layers before it asks the cache repository.
        session.deferBlobChecks = Boolean(options.push) && options.tags.length > 0;
        // A front door that does not choose (the daemon) gets BUILDER_RUNTIME's runtime, else runc.
        if (options.runtime === undefined && process.env.BUILDER_RUNTIME) options.runtime = (await import('./sandbox/runtime.js')).configuredRuntime({});
        const buildCache = cacheFrom.length > 0 ? await withImports(store, cache, cacheFrom, session) : cache;
        // --cache-to runs beside the tag and the push (solver/export-image.ts). Layers of other stages may still be
        // compressing, their records being written: it waits for those, and exports them too.
        const alongsideExport = cacheTo.length === 0 ? undefined : async (imageStages: number[]): Promise<void> => {
          await session.settle();
          for (const spec of cacheTo) await exportUsed(store, spec, imageStages, session);
        };
        // A failed build still finishes (or removes) its blobs under the lease.
        const result = await withTracedBuildLease(store.root, session.tracer.root, async () => {
          const built = await solveWithRepair(store, snapshots, buildCache, { ...options, signal: call.signal, alongsideExport }, session).finally(() => session.settle());
          // The local save after the push keeps a lease of its own: a prune never removes its blobs before the tag.
          if (built.saved) {
            const release = extendBuildLease(store.root);
            built.saved = built.saved.finally(release);
          }
          return built;
        });
        const saved = result.saved ?? Promise.resolve(undefined);
        saving.add(saved);
        void saved.finally(() => saving.delete(saved));
        // What this build pushed, for the farm: a fresh worker's push of the same manifest there then skips its HEADs.
        for (const pushed of result.pushed ?? []) {
          if (shared && result.finalKey && pushed.repository && !session.heldManifests.has(`${pushed.repository}@${pushed.digest}`)) {
            shared.recordHeld(result.finalKey, pushed.repository, pushed.digest);
          }
        }
        session.emit({ type: 'build.done', imageDigest: result.manifest.digest, durationMs: Date.now() - started, time: Date.now() });
        return { ...result, cache: session.stats.toJSON(), saved };
      } catch (err) {
        const error = err instanceof BuildError ? err : new BuildError('INTERNAL', errorMessage(err), { cause: err });
        session.emit({ type: 'build.done', durationMs: Date.now() - started, time: Date.now(), error: { code: error.code, message: error.message, line: error.line } });
        throw error;
      } finally {
        active.delete(session);
        await session.close();
        if (request.ephemeralContext) (await import('./context/digest.js')).forgetContentHashes(request.contextDir);
        // A caller that passed its own tracer writes and sends it; otherwise OTLP only, when configured.
        if (!call.tracer && (process.env.OTEL_EXPORTER_OTLP_ENDPOINT || process.env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT)) {
          const { finishTrace } = await import('./trace/finish.js');
          await finishTrace(session.tracer, { warn: (message) => call.onEvent?.({ type: 'warning', message, time: Date.now() }) });
        }
      }
    },
    idle,
    async close() {
      await idle();
      // Netns prepared ahead for isolated RUNs of this store (builder/network/netns-pool.ts) go with the engine.
      await (await import('./network/netns-pool.js')).drainNetnsPool(store.root);
      await cache.close?.();
    },
  };
}

/**
 * A cache hit may name a layer that lives only in a registry; when its files are needed and it cannot be fetched
 * (gone, wrong bytes, registry down), the record is dropped and the build starts again: the step then runs.
 */
async function solveWithRepair(store: Store, snapshots: Snapshots, cache: CacheBackend, options: LocalBuildOptions, session: BuildSession): Promise<BuildResult> {
  const { BlobUnavailableError } = await import('./registry/blob-unavailable.js');
  for (let attempt = 1; ; attempt++) {
    session.dropChecks();
    try {
      return await solve({ store, snapshots, cache }, options, session);
    } catch (err) {
      const remote = err instanceof BlobUnavailableError ? session.remoteLayers.get(err.digest) : undefined;
      if (!remote || attempt >= REPAIR_ATTEMPTS || session.signal?.aborted) throw err;
      session.warn(`cache: ${err instanceof Error ? err.message : String(err)}; running the step that made it again`);
      session.markBroken(remote.key);
      session.remoteLayers.delete(err instanceof BlobUnavailableError ? err.digest : '');
      if (!remote.keepRecord) await cache.forget?.(remote.key).catch(() => undefined);
    }
  }
}

/** `--cache-from`: an import that cannot be read is a warning, never a failed build. */
async function withImports(store: Store, cache: CacheBackend, specs: CacheImportSpec[], session: BuildSession): Promise<CacheBackend> {
  const { importCache, WithImports } = await import('../cache/transfer.js');
  const imports: CacheBackend[] = [];
  for (const spec of specs) {
    const where = spec.type === 'local' ? spec.src : spec.ref;
    try {
      imports.push(await importCache(store, spec, session.signal));
    } catch (err) {
      const absent = err instanceof BuildError && err.code === 'REGISTRY_NOT_FOUND';
      if (!(absent && spec.type === 'registry' && spec.optional)) session.warn(`--cache-from ${where}: ${errorMessage(err)}; building without it`);
    }
  }
  return imports.length > 0 ? new WithImports(cache, imports) : cache;
}

/** `--cache-to`: the records of the final image's stages (`mode=min`) or of every stage (`mode=max`). */
async function exportUsed(store: Store, spec: CacheExportSpec, imageStages: number[], session: BuildSession): Promise<void> {
  const records = new Map<string, import('../cache/backend.js').CacheEntry>();
  for (const [stage, used] of session.usedRecords) {
    if (spec.mode === 'max' || imageStages.includes(stage)) for (const [key, entry] of used) records.set(key, entry);
  }
  const where = spec.type === 'local' ? spec.dest : spec.ref;
  try {
    const { exportCache } = await import('../cache/transfer.js');
    await exportCache(store, records, spec, session.signal);
  } catch (err) {
    session.warn(`--cache-to ${where}: exporting the cache failed: ${errorMessage(err)}`);
  }
}

/**
 * The cache a CLI build uses: BUILDER_CACHE_REPO (HOST/REPO) with BUILDER_CACHE_REDIS (or BUILDER_REDIS_URL) joins the
 * farm's shared cache (tiered: local first); BUILDER_CACHE_MODE=shared skips local records. Without them: local.
 */
export function cacheOptionsFromEnv(env: NodeJS.ProcessEnv = process.env): CacheOptions {
  const repo = env.BUILDER_CACHE_REPO;
  const redisUrl = env.BUILDER_CACHE_REDIS ?? env.BUILDER_REDIS_URL;
  if (!repo || !redisUrl) return { type: 'local' };
  const number = (name: string): number | undefined => {
    const value = Number(env[name]);
    return Number.isInteger(value) && value > 0 ? value : undefined;
  };
  return {
    type: env.BUILDER_CACHE_MODE === 'shared' ? 'shared' : 'tiered', redisUrl, repo,
    leaseMs: number('BUILDER_CACHE_LEASE_MS'), waitLimitMs: number('BUILDER_CACHE_WAIT_MS'), maxRecords: number('BUILDER_CACHE_MAX_RECORDS'),
  };
}

function blobSizeNow(path: string): number | undefined {
  try {
    return statSync(path, { throwIfNoEntry: false })?.size;
  } catch {
    return undefined;
  }
}

export function defaultWorkerName(): string {
  return `${os.hostname()}:${process.pid}`;
}
