import { join } from 'node:path';
import type { CopyStep } from '../dockerfile/types.js';
import { copyInto, digestSources, type CopyOptions, type CopySource } from '../context/copy.js';
import { mountReadonly, prepareSnapshot } from '../snapshot/mount.js';
import { resolveChown } from '../sandbox/user.js';
import { digestOf } from '../../cache/key.js';
import { recordStep, resolveImagePath } from './config.js';
import { commitSnapshot, lowerDirs } from './commit.js';
import { addRemoteSources, localSources, remoteInputsDigest } from './add-remote.js';
import type { InputsDigester, StepContext, StepHandler, StepInputs } from './types.js';
import { inSpan } from '../trace/tracer.js';
import { copyDirect, directCopyApplies } from './copy-direct.js';

/** COPY and ADD: sources from the context or another stage, written into a new snapshot without runc. */
export const copy: StepHandler<'COPY' | 'ADD'> = async (step, ctx) => {
  const lowers = await lowerDirs(ctx, ctx.layers);
  // Most COPYs need no mount (exec/copy-direct.ts says when); BUILDER_COPY_VIA_OVERLAY=1 always mounts.
  if (directCopyApplies(step) && process.env.BUILDER_COPY_VIA_OVERLAY !== '1') {
    const copySource: CopySource = { root: ctx.contextDir, isContext: true, ignore: ctx.ignore };
    const direct = await inSpan(ctx.span, 'copy files (no mount)', () => copyDirect(ctx.store.tmpDir, lowers, copySource, copyOptions(step, ctx, undefined), join(ctx.store.cacheDir, 'dir-xattrs.json')));
    if (direct) {
      const layer = await inSpan(ctx.span, 'commit', (span) => commitSnapshot(direct, { ...ctx, span }));
      return { layer, config: recordStep(ctx.config, `${step.source} # buildkit`, layer, ctx.sourceDateEpoch) };
    }
  }
  const snapshot = await inSpan(ctx.span, 'mount', () => prepareSnapshot(ctx.store.tmpDir, lowers), { layers: lowers.length });
  let source: { copySource: CopySource; release(): Promise<void> } | undefined;
  try {
    source = await inSpan(ctx.span, 'open source', () => openSource(step, ctx));
    const chown = step.chown ? await resolveChown(snapshot.merged, step.chown) : undefined;
    const options = copyOptions(step, ctx, chown);
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
  return { layer, config: recordStep(ctx.config, `${step.source} # buildkit`, layer, ctx.sourceDateEpoch) };
};

/**
 * The cache input of a COPY/ADD: the content digest of its context sources, or for `--from` the
 * source stage's key (same key ⇒ same files) plus the paths asked for; ADD's URLs and git repos add theirs.
 */
export const copyInputs: InputsDigester<'COPY' | 'ADD'> = async (step, ctx) => {
  const remote = await remoteInputsDigest(step, ctx);
  const local = await localInputs(step, ctx);
  return remote === undefined ? local : { ...local, digest: digestOf(JSON.stringify({ local: local.digest, remote })) };
};

async function localInputs(step: CopyStep, ctx: StepContext): Promise<StepInputs> {
  if (step.from && !('context' in step.from)) {
    const output = await ctx.fromSource(step.from);
    return { digest: digestOf(JSON.stringify({ from: output.key, sources: step.sources })) };
  }
  const chownKey = step.chown ? { uid: 0, gid: 0 } : undefined;
  // --chown by name is resolved against the image at copy time; the name itself is in the step key.
  const files: Record<string, string> = {};
  const digest = await digestSources({ root: ctx.contextDir, isContext: true, ignore: ctx.ignore, hashes: ctx.contextHashes }, copyOptions(step, ctx, chownKey), files);
  return { digest, files };
}

function copyOptions(step: CopyStep, ctx: StepContext, chown: { uid: number; gid: number } | undefined): CopyOptions {
  return {
    sources: localSources(step),
    dest: resolveImagePath(ctx.config.config.WorkingDir, step.dest),
    chown: chown ? { uid: chown.uid, gid: chown.gid } : undefined,
    chmod: step.chmod === undefined ? undefined : parseChmod(step.chmod),
    add: step.op === 'ADD',
    exclude: step.exclude,
    parents: step.parents,
    inline: step.heredocs.map((doc) => ({ name: doc.name, content: doc.content })),
  };
}

async function openSource(step: CopyStep, ctx: StepContext): Promise<{ copySource: CopySource; release(): Promise<void> }> {
  if (!step.from || 'context' in step.from) {
    return { copySource: { root: ctx.contextDir, isContext: true, ignore: ctx.ignore }, release: async () => {} };
  }
  const output = await ctx.fromSource(step.from);
  const mounted = await mountReadonly(ctx.store.tmpDir, await lowerDirs(ctx, output.layers));
  return { copySource: { root: mounted.merged, isContext: false }, release: () => mounted.release() };
}

/** Octal bits, or the symbolic mode itself (the planner checked it) for the copier to apply per file. */
function parseChmod(chmod: string): number | string {
  return /^[0-7]+$/.test(chmod) ? parseInt(chmod, 8) : chmod;
}
