/**
 * `builder prune --shared`: garbage collection of the farm's cache repository. A blob goes when no record in the
 * index names it and no build used it within the grace period (a build that hit a record may still mount or fetch
 * its blob: that use is stamped in `inuse`). Records themselves are bounded by the index's LRU limit; `--all`
 * empties the index first. Blobs the index never published (pushed by hand) are not touched.
 */
import { errorMessage } from '../builder/errors.js';
import type { SharedCache } from './shared.js';

export interface SharedPruneReport {
  records: number;
  blobs: string[];
  kept: number;
  failed: string[];
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
      await redis.zrem(cache.key('lru'), ...keys.map((k) => k.slice(cache.key('rec:').length)));
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
