/**
 * Materializes a layer blob the store does not hold: a cache hit may name a layer that lives only in a registry
 * repository (the farm's cache repository, or where it was seen before: registry/blob-sources.json). The blob is
 * streamed in, checked against its digest and size, and only then stored under its digest.
 */
import { loadConfig, type BuilderConfig } from '../config.js';
import { BuildError, errorMessage } from '../errors.js';
import type { Descriptor } from '../image/types.js';
import type { Store } from '../store/store.js';
import { Authorizer } from './auth.js';
import { downloadBlob } from './blob-download.js';
import { BlobSources } from './blob-sources.js';
import { RegistryClient } from './client.js';
import { registryEndpoint } from './endpoints.js';
import { BlobUnavailableError } from './blob-unavailable.js';

export { BlobUnavailableError } from './blob-unavailable.js';


export interface FetchBlobOptions {
  /** `host/repo` sources to try first (e.g. the cache repository that answered the hit). */
  sources?: string[];
  config?: BuilderConfig;
  signal?: AbortSignal;
}

/** Splits `host[:port]/repo/path` into its registry authority and repository. */
export function splitRepository(source: string): { authority: string; repository: string } {
  const slash = source.indexOf('/');
  if (slash <= 0 || slash === source.length - 1) throw new BuildError('INVALID_REFERENCE', `"${source}" is not HOST/REPOSITORY`);
  return { authority: source.slice(0, slash), repository: source.slice(slash + 1) };
}

/** Downloads `descriptor` into the store from the first source that serves it correctly. Returns the bytes moved. */
export async function fetchBlob(store: Store, descriptor: Descriptor, options: FetchBlobOptions = {}): Promise<number> {
  if (await store.hasBlob(descriptor.digest)) return 0;
  const known = await new BlobSources(store.root).sourcesOf(descriptor.digest);
  const sources = [...new Set([...(options.sources ?? []), ...known])];
  if (sources.length === 0) {
    throw new BlobUnavailableError(descriptor.digest, `layer ${descriptor.digest} is not in the store and no registry is known to hold it`);
  }
  const config = options.config ?? (await loadConfig());
  const problems: string[] = [];
  for (const source of sources) {
    const { authority, repository } = splitRepository(source);
    try {
      const client = new RegistryClient(registryEndpoint(authority, config), repository, new Authorizer(), 'pull', options.signal);
      return await downloadBlob(client, store, descriptor, `fetching layer ${descriptor.digest} from ${source}`);
    } catch (err) {
      if (options.signal?.aborted) throw err;
      problems.push(errorMessage(err));
    }
  }
  throw new BlobUnavailableError(descriptor.digest, `layer ${descriptor.digest} could not be fetched: ${problems.join('; ')}`);
}
