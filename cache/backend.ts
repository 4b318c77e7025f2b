import type { ImageConfig, Layer } from '../builder/image/types.js';
import type { CacheKey, CacheKeyPreimage } from './key.js';

/** What a step produced: its layer (none for metadata-only steps or empty diffs) and the image config after it. */
export interface CacheEntry {
  layer?: Layer;
  config: ImageConfig;
  /** The instruction text, for explanations and `builder system df`. */
  createdBy: string;
  preimage?: CacheKeyPreimage;
}

/**
 * Where step results are remembered. `local` keeps records on disk beside the store; `shared`
 * (a later backend) keeps the index in Redis and blobs in a registry. Implementations must treat a
 * record whose layer blob is gone as a miss, and must never throw for a miss.
 */
export interface CacheBackend {
  get(key: CacheKey): Promise<CacheEntry | undefined>;
  put(key: CacheKey, entry: CacheEntry): Promise<void>;
}
