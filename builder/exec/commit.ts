import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { isEmptyDir, startLayer } from '../layer/create.js';
import { PendingLayer } from '../layer/pending-layer.js';
import { rememberDirectories } from './copy-direct.js';
import type { Layer } from '../image/types.js';
import type { MutableSnapshot } from '../snapshot/mount.js';
import type { StepContext } from './types.js';
import { inSpan } from '../trace/tracer.js';

/**
 * Turns a step's upperdir into a layer: tar it (the diffId), then the upperdir itself becomes the layer's
 * snapshot (no re-extraction), while the gzip blob is finished in the background and renamed into the store
 * when complete: the result is a PendingLayer, which whoever needs the blob settles (settleLayer). The session
 * waits for it before the build ends. An empty diff makes no layer, as BuildKit drops empty layers.
 * Always releases the mount.
 */
export async function commitSnapshot(
  snapshot: MutableSnapshot, ctx: Pick<StepContext, 'store' | 'snapshots' | 'sourceDateEpoch' | 'session'> & Partial<Pick<StepContext, 'span'>>,
): Promise<Layer | undefined> {
  const { span } = ctx;
  let unmounted = false;
  try {
    const blobTmp = ctx.store.tempPath('layer');
    // The upperdir is read while the overlay is being unmounted: the container is gone, so nothing writes through
    // the mount any more, and overlayfs keeps no data of its own (an upperdir is plain files on the upper fs). The
    // umount (3-5 ms, most of it the kernel's) then overlaps the diff instead of preceding it; the adopt (a rename
    // of the upperdir) still waits for both.
    const unmounting = inSpan(span, 'unmount', () => snapshot.unmount()).then(() => { unmounted = true; });
    const diffing = (async () => {
      if (await isEmptyDir(snapshot.upperdir)) return undefined;
      // The tar (the diffId) is on the step's path; gzip follows in the background and is traced there.
      return inSpan(span, 'diff+tar', () => startLayer(snapshot.upperdir, blobTmp, { sourceDateEpoch: ctx.sourceDateEpoch }));
    })();
    // Both settle before anything else happens: a failed diff must not leave the unmount racing the release below.
    const [unmount, diff] = await Promise.allSettled([unmounting, diffing]);
    if (unmount.status === 'rejected') {
      // The layer's blob is still being written in the background: let it finish, then drop it.
      const orphan = diff.status === 'fulfilled' ? diff.value : undefined;
      if (orphan) ctx.session.later(orphan.layer.catch(() => undefined).then(() => rm(blobTmp, { force: true })));
      throw unmount.reason;
    }
    if (diff.status === 'rejected') throw diff.reason;
    const started = diff.value;
    if (!started) return undefined;
    const compress = async (): Promise<Layer> => {
      const layer = await started.layer;
      await ctx.store.importBlobFile(blobTmp, layer.digest);
      return layer;
    };
    const stored = span ? span.background('compress+store blob', async (blobSpan) => {
      const layer = await compress();
      blobSpan.set({ compressedBytes: layer.size, mediaType: layer.mediaType });
      return layer;
    }) : compress();
    const layer = new PendingLayer(started.diffId, stored);
    ctx.session.later(layer.ready);
    // A snapshot made here whose blob then fails (a full disk) names no layer anyone can use: it goes when the
    // build ends (a later step of this build may still have it mounted as a lowerdir until then).
    const existed = ctx.snapshots.hasSync(started.diffId);
    let failed = false;
    layer.ready.catch(() => { failed = true; });
    if (!existed) ctx.session.onCleanup(async () => { if (failed) await rm(ctx.snapshots.path(started.diffId), { recursive: true, force: true }); });
    const adopted = await inSpan(span, 'adopt snapshot', () => ctx.snapshots.adopt(started.diffId, snapshot.upperdir));
    if (started.directories && !existed) rememberDirectories(join(ctx.store.cacheDir, 'dir-xattrs.json'), adopted, started.directories);
    return layer;
  } finally {
    // Once unmounted (and the upperdir adopted), what is left is an empty shell of directories: removing it
    // need not hold up the next step. A crash before it is done leaves a dir store/reap.ts removes.
    if (unmounted) ctx.session.later(span ? span.background('release mount', () => snapshot.release()) : snapshot.release());
    else await inSpan(span, 'release mount', () => snapshot.release());
  }
}

/**
 * Snapshot dirs of the given layers, bottom first, extracting any that are not on disk yet. A layer
 * that occurs twice is kept only at its top-most position: overlayfs refuses a repeated lowerdir, and
 * re-applying the same layer higher up already covers what its lower copy contributed.
 */
export async function lowerDirs(ctx: Pick<StepContext, 'snapshots'> & Partial<Pick<StepContext, 'span'>>, layers: Layer[]): Promise<string[]> {
  const topMost = layers.filter((layer, index) => !layers.slice(index + 1).some((later) => later.diffId === layer.diffId));
  // Its own span: on a cold store the first step extracts (or fetches) the base image's layers here.
  return inSpan(ctx.span, 'lowerdirs', () => Promise.all(topMost.map((layer) => ctx.snapshots.ensure(layer))), { layers: topMost.length });
}
