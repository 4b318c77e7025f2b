/**
 * `builder prune --shared`: garbage collection of the farm's cache repository. A blob goes when no record in the
 * index names it and no build used it within the grace period (a build that hit a record may still mount or fetch
 * its blob: that use is stamped in `inuse`). Records themselves are bounded by the index's LRU limit; `--all`
 * empties the index first. Blobs the index never published (pushed by hand) are not touched.
 */
import { BuildError, errorMessage } from '../builder/errors.js';
import type { RegistryClient } from '../builder/registry/client.js';
import type { SharedCache } from './shared.js';

export interface SharedPruneReport {
  records: number;
  blobs: string[];
  kept: number;
  failed: string[];
}

/** Layer digests named by every tagged manifest of the cache repository. */
async function artifactLayers(client: RegistryClient): Promise<Set<string>> {
  const layers = new Set<string>();
  const tags = await client.send({ method: 'GET', url: client.url('tags/list'), what: `listing the tags of ${client.name}`, accept: [404] }, async (response) => {
    if (response.status === 404) { await response.body?.cancel(); return []; }
    return ((await response.json()) as { tags?: string[] | null }).tags ?? [];
  });
  for (const tag of tags) {
    // A tag deleted since the listing names nothing; any other failure stops the GC (it cannot know what is in use).
    const fetched = await client.getManifest(tag, `reading ${client.name}:${tag}`).catch((err: unknown) => {
      if (err instanceof BuildError && err.code === 'REGISTRY_NOT_FOUND') return undefined;
      throw err;
    });
    const manifest = fetched ? (JSON.parse(fetched.bytes.toString('utf8')) as { layers?: { digest: string }[] }) : {};
    for (const layer of manifest.layers ?? []) layers.add(layer.digest);
  }
  return layers;
}

export async function pruneShared(cache: SharedCache, options: { all?: boolean; graceMs: number }): Promise<SharedPruneReport> {
  const redis = cache.redis;
  let records = 0;
  const referenced = new Set<string>();
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', cache.key('rec:*'), 'COUNT', 500);
    cursor = next;
    if (keys.length === 0) continue;
    if (options.all) {
      records += await redis.del(...keys);
      const names = keys.map((k) => k.slice(cache.key('rec:').length));
      await redis.zrem(cache.key('lru'), ...names);
      // The farm's push facts of those records go with them (cache/shared-held.ts; else they would wait out their TTL).
      await redis.del(...names.map((name) => cache.key(`held:${name}`)));
      continue;
    }
    for (const text of await redis.mget(...keys)) {
      const digest = text ? (JSON.parse(text) as { layer?: { digest?: string } }).layer?.digest : undefined;
      if (digest) referenced.add(digest);
    }
  } while (cursor !== '0');

  const published = await redis.smembers(cache.key('blobs'));
  const since = Date.now() - options.graceMs;
  const client = await cache.registryClient();
  // Cache artifacts (`--cache-to`, and the farm's per-tag exports) in the same repository name blobs too.
  for (const digest of await artifactLayers(client)) referenced.add(digest);
  const report: SharedPruneReport = { records, blobs: [], kept: 0, failed: [] };
  for (const digest of published) {
    const lastUse = Number(await redis.zscore(cache.key('inuse'), digest) ?? 0);
    if (referenced.has(digest) || lastUse > since) {
      report.kept++;
      continue;
    }
    try {
      await client.deleteBlob(digest, `deleting cache blob ${digest} from ${cache.repo}`);
      await redis.multi().srem(cache.key('blobs'), digest).zrem(cache.key('inuse'), digest).exec();
      report.blobs.push(digest);
    } catch (err) {
      report.failed.push(`${digest}: ${errorMessage(err)}`);
    }
  }
  return report;
}
