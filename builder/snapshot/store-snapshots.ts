import type { Layer } from '../image/types.js';
import type { Store } from '../store/store.js';
import { Snapshots } from './snapshots.js';

/**
 * The store's snapshot directory. A layer whose blob is not in the store (named by a cache hit, kept lazily) is
 * fetched from the registries known to hold it, `preferredSources()` first, when its files are first needed.
 */
export function storeSnapshots(
  store: Store, preferredSources: (digest: string) => string[] = () => [], onFetched?: (layer: Layer, bytes: number) => void,
): Snapshots {
  return new Snapshots(store.snapshotsDir, store.tmpDir, (digest) => store.blobPath(digest), async (layer: Layer) => {
    // Imported on first use: a build whose layers are all local never loads the registry client.
    const { fetchBlob } = await import('../registry/blob-fetch.js');
    const bytes = await fetchBlob(store, layer, { sources: preferredSources(layer.digest) });
    onFetched?.(layer, bytes);
  });
}
