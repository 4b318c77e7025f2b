import { BuildError } from '../errors.js';
import { gcGraceMs } from '../store/gc-auto.js';
import { Store } from '../store/store.js';

/** As the local GC: nothing younger than this (BUILDER_GC_GRACE) is removed. */
const DEFAULT_GRACE_MS = 10 * 60 * 1000;

/** `builder prune --shared`: the farm's cache repository (BUILDER_CACHE_REPO) against its Redis index. */
export async function pruneSharedCommand(flags: { all?: boolean; force?: boolean }): Promise<number> {
  const repo = process.env.BUILDER_CACHE_REPO;
  const redisUrl = process.env.BUILDER_CACHE_REDIS ?? process.env.BUILDER_REDIS_URL;
  if (!repo || !redisUrl) throw new BuildError('INVALID_ARGUMENT', 'prune --shared needs BUILDER_CACHE_REPO (HOST/REPO) and BUILDER_REDIS_URL (or BUILDER_CACHE_REDIS)');
  if (!flags.force) throw new BuildError('INVALID_ARGUMENT', 'prune --shared removes blobs every worker shares: confirm with --force');
  const { SharedCache } = await import('../../cache/shared.js');
  const { pruneShared } = await import('../../cache/shared-gc.js');
  // The store is only a scratch area here (the shared cache never writes to it during a prune).
  const cache = new SharedCache({ redisUrl, repo, store: await Store.open(), workerName: 'prune' });
  try {
    const report = await pruneShared(cache, { all: flags.all, graceMs: gcGraceMs() ?? DEFAULT_GRACE_MS });
    const lines = [
      ...(report.records > 0 ? [`Deleted ${report.records} shared cache records`] : []),
      ...report.blobs.map((digest) => `deleted: ${digest}`),
      `Kept ${report.kept} blobs in use; deleted ${report.blobs.length} from ${repo}`,
      ...report.failed.map((failure) => `WARNING: could not delete ${failure}`),
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
    if (report.failed.length > 0) throw new BuildError('REGISTRY_UNAVAILABLE', `${report.failed.length} blobs could not be deleted from ${repo}`);
    return 0;
  } finally {
    await cache.close();
  }
}
