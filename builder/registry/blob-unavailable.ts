/**
 * The error of a layer the cache named that could not be fetched. Its own module: the engine tests for it around
 * every build, and importing blob-fetch.ts for the class loaded the whole registry client (https, streams), a few
 * ms of every no-op rebuild.
 */
import { BuildError } from '../errors.js';

/** A layer named by the cache could not be fetched from anywhere it is said to live; `digest` says which. */
export class BlobUnavailableError extends BuildError {
  constructor(readonly digest: string, message: string, cause?: unknown) {
    super('CACHE_BLOB_UNAVAILABLE', message, { cause });
    this.name = 'BlobUnavailableError';
    Object.setPrototypeOf(this, new.target.prototype);
  }
}
