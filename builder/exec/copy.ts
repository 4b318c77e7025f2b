import { join } from 'node:path';
import type { CopyStep } from '../dockerfile/types.js';
import { copyInto, type CopySource } from '../context/copy.js';
import { mountReadonly, prepareSnapshot } from '../snapshot/mount.js';
import { resolveChown } from '../sandbox/user.js';
import { recordStep } from './config.js';
import { copyHistoryText } from './history-text.js';
import { copyOptions } from './copy-inputs.js';
import { commitSnapshot, lowerDirs } from './commit.js';
import { addRemoteSources, localSources } from './add-remote.js';
import type { StepContext, StepHandler } from './types.js';
import { inSpan } from '../trace/tracer.js';
import { copyDirect, directCopyApplies } from './copy-direct.js';
import { sourceFromLayers } from './copy-from-layers.js';
import type { CopyOptions } from '../context/copy-types.js';

/**
 * COPY and ADD: sources from the context or another stage, written into a new snapshot without runc. Loaded when a
 * COPY runs (exec/index.ts); the cache key side is copy-inputs.ts, which a cached rebuild needs alone.
 */
export const copy: StepHandler<'COPY' | 'ADD'> = async (step, ctx) => {
  const lowers = await lowerDirs(ctx, ctx.layers);
  // Most COPYs need no mount (exec/copy-direct.ts says when); BUILDER_COPY_VIA_OVERLAY=1 always mounts.
  if (directCopyApplies(step) && process.env.BUILDER_COPY_VIA_OVERLAY !== '1') {
    const options = copyOptions(step, ctx, undefined, localSources(step));
    const copySource = step.from ? await inSpan(ctx.span, 'source (no mount)', () => sourceWithoutMount(step, ctx, options)) : { root: ctx.contextDir, isContext: true, ignore: ctx.ignore };
    const direct = copySource && await inSpan(ctx.span, 'copy files (no mount)', () => copyDirect(ctx.store.tmpDir, lowers, copySource, options, join(ctx.store.cacheDir, 'dir-xattrs.json')));
    if (direct) {
      const layer = await inSpan(ctx.span, 'commit', (span) => commitSnapshot(direct, { ...ctx, span }));
      return { layer, config: recordStep(ctx.config, copyHistoryText(step), layer, ctx.sourceDateEpoch) };
    }
  }
  const snapshot = await inSpan(ctx.span, 'mount', () => prepareSnapshot(ctx.store.tmpDir, lowers), { layers: lowers.length });
  let source: { copySource: CopySource; release(): Promise<void> } | undefined;
  try {
    source = await inSpan(ctx.span, 'open source', () => openSource(step, ctx));
    const chown = step.chown ? await resolveChown(snapshot.merged, step.chown) : undefined;
    const options = copyOptions(step, ctx, chown, localSources(step));
    const copySource = source.copySource;
    await inSpan(ctx.span, 'copy files', async () => {
      await copyInto(copySource, snapshot.merged, options);
      await addRemoteSources(step, ctx, snapshot.merged, options.dest, options.chown, options.chmod);
    });
  } catch (err) {
    await snapshot.release();
    throw err;
  } finally {
    // The source (another stage's read-only overlay) is no longer read once the files are copied: unmounting it
    // need not hold up this step's commit (~10-20 ms in the concurrent-stages trace). Awaited before the build ends.
    const opened = source;
    if (opened) ctx.session.later(ctx.span ? ctx.span.background('release source', () => opened.release()) : opened.release());
  }
  const layer = await inSpan(ctx.span, 'commit', (span) => commitSnapshot(snapshot, { ...ctx, span }));
  return { layer, config: recordStep(ctx.config, copyHistoryText(step), layer, ctx.sourceDateEpoch) };
};

/** A --from source's snapshot directory when its files can be read there without a mount (copy-from-layers.ts). */
async function sourceWithoutMount(step: CopyStep, ctx: StepContext, options: CopyOptions): Promise<CopySource | undefined> {
  if (!step.from || 'context' in step.from) return undefined;
  const output = await ctx.fromSource(step.from);
  return sourceFromLayers(await lowerDirs(ctx, output.layers), options);
}

async function openSource(step: CopyStep, ctx: StepContext): Promise<{ copySource: CopySource; release(): Promise<void> }> {
  if (!step.from || 'context' in step.from) {
    return { copySource: { root: ctx.contextDir, isContext: true, ignore: ctx.ignore }, release: async () => {} };
  }
  const output = await ctx.fromSource(step.from);
  const mounted = await mountReadonly(ctx.store.tmpDir, await lowerDirs(ctx, output.layers));
  return { copySource: { root: mounted.merged, isContext: false }, release: () => mounted.release() };
}
