import type { Layer } from '../builder/image/types.js';
import type { ConfigDelta } from './config-delta.js';
import type { CacheKey, CacheKeyPreimage } from './key.js';
import type { StepTrace } from './explain.js';

/**
 * What a step produced: its layer (none for metadata-only steps or empty diffs) and what it changed in the
 * image config. The record's size follows the step, never the steps before it (cache/config-delta.ts).
 */
export interface CacheEntry {
  layer?: Layer;
  delta: ConfigDelta;
  /** The instruction text, for explanations and `builder system df`. */
  createdBy: string;
  preimage?: CacheKeyPreimage;
  /** The worker (or machine) that ran the step, when a shared index says so. */
  builtBy?: string;
}

/** A hit, with the backend that answered (for metrics and `CACHED (built by …)`). */
export interface CacheHit extends CacheEntry {
  backend: string;
  /** The layer's blob is not in the local store: it is fetched from `blobSource` only when its files are needed. */
  blobSource?: string;
  /**
   * The backend's check that `blobSource` really holds the layer. The session starts it with the lookup and does not
   * await it there (a build that pushes may never start it: its push's HEAD can prove the layer instead, see
   * solver/export-image.ts); every check ends before the image is tagged (a problem repairs the build). Resolves to
   * what is wrong, or undefined; never rejects.
   */
  check?: () => Promise<BlobProblem | undefined>;
  /**
   * Repositories (`authority/repository`) a push of the image that ends with this step completed in, with the
   * manifest digest it pushed (cache/shared-held.ts). A push of that same manifest there skips its blob HEADs.
   */
  heldIn?: Readonly<Record<string, string>>;
}

/** A cached layer that cannot be used; `keepRecord` when the record itself is fine (the registry was unreachable). */
export interface BlobProblem {
  message: string;
  keepRecord?: boolean;
}

/** What a backend may use for one call: the build's warning channel and cancellation. */
export interface CacheCall {
  /** Reports a problem that did not fail the build (the caller shows each distinct message once). */
  warn(message: string): void;
  signal?: AbortSignal;
  /** Bytes a backend uploaded to publish a layer (metrics). */
  published?(bytes: number): void;
}

/**
 * A lease for single-flight: while held, other workers that reach the same key wait for its record instead of
 * running the step. `release` is idempotent.
 */
export interface CacheLease {
  release(): Promise<void>;
}

/**
 * Where step results are remembered. `local` keeps records on disk beside the store; `shared` keeps the index
 * in Redis and blobs in a registry repository; `tiered` asks local first. Implementations treat a record whose
 * layer blob is gone as a miss and never throw for a cache failure: they warn through `call` and miss.
 */
export interface CacheBackend {
  readonly name: string;
  get(key: CacheKey, call: CacheCall): Promise<CacheHit | undefined>;
  /** Remembers a step's result; `layerPath` is the local blob, for backends that publish it elsewhere. */
  put(key: CacheKey, entry: CacheEntry, call: CacheCall, layerPath?: string): Promise<void>;
  /**
   * Single-flight across processes: resolves to a lease when this caller should run the step, or to a hit when
   * another holder finished it meanwhile. Backends without a farm return a lease at once.
   */
  acquire?(key: CacheKey, call: CacheCall, onWait: (holder: string) => void): Promise<CacheLease | CacheHit>;
  /** Miss explanations shared across workers (cache/explain.ts traces), for backends that span machines. */
  getTrace?(identity: string, call: CacheCall): Promise<StepTrace | undefined>;
  putTrace?(identity: string, trace: StepTrace, call: CacheCall): Promise<void>;
  /** Forgets a record found to be broken (its blob is gone or corrupt) so the next build repairs it. */
  forget?(key: CacheKey): Promise<void>;
  close?(): Promise<void>;
}
