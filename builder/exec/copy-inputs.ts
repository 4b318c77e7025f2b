/**
 * What a COPY/ADD's cache key needs: the content digest of its context sources, or for `--from` the source stage's
 * key. Apart from the handler (copy.ts) so that a cached rebuild loads neither the copier, the overlay mounts nor
 * the layer writer (tar, gzip): ~2 ms of every no-op rebuild's start.
 */
import type { CopyStep } from '../dockerfile/types.js';
import type { CopyOptions } from '../context/copy-types.js';
import { digestSources } from '../context/digest.js';
import { digestOf } from '../../cache/key.js';
import { resolveImagePath } from './config.js';
import type { InputsDigester, StepContext, StepInputs } from './types.js';

/**
 * The cache input of a COPY/ADD: the content digest of its context sources, or for `--from` the
 * source stage's key (same key ⇒ same files) plus the paths asked for; ADD's URLs and git repos add theirs.
 */
export const copyInputs: InputsDigester<'COPY' | 'ADD'> = async (step, ctx) => {
  // Only ADD has remote sources (URLs, git): its module (http, git) loads for ADD alone.
  const remoteSources = step.op === 'ADD' ? await import('./add-remote.js') : undefined;
  const remote = remoteSources ? await remoteSources.remoteInputsDigest(step, ctx) : undefined;
  const local = await localInputs(step, ctx, remoteSources ? remoteSources.localSources(step) : step.sources);
  return remote === undefined ? local : { ...local, digest: digestOf(JSON.stringify({ local: local.digest, remote })) };
};

async function localInputs(step: CopyStep, ctx: StepContext, sources: string[]): Promise<StepInputs> {
  if (step.from && !('context' in step.from)) {
    const output = await ctx.fromSource(step.from);
    // A `dst/.` dest changed meaning (a file before, a directory now, as current BuildKit): its key says so, every
    // other key stays as it was (the dest is in the step itself).
    const destIsDirDot = step.dest.endsWith('/.') ? { dest: resolveImagePath(ctx.config.config.WorkingDir, step.dest) } : {};
    return { digest: digestOf(JSON.stringify({ from: output.key, sources: step.sources, ...destIsDirDot })) };
  }
  const chownKey = step.chown ? { uid: 0, gid: 0 } : undefined;
  // --chown by name is resolved against the image at copy time; the name itself is in the step key.
  const files: Record<string, string> = {};
  const digest = await digestSources({ root: ctx.contextDir, isContext: true, ignore: ctx.ignore, hashes: ctx.contextHashes }, copyOptions(step, ctx, chownKey, sources), files);
  return { digest, files };
}

/** The copier's options for a COPY/ADD step; `sources` are its local ones (ADD's URLs left out). */
export function copyOptions(step: CopyStep, ctx: StepContext, chown: { uid: number; gid: number } | undefined, sources: string[]): CopyOptions {
  return {
    sources,
    dest: resolveImagePath(ctx.config.config.WorkingDir, step.dest),
    chown: chown ? { uid: chown.uid, gid: chown.gid } : undefined,
    chmod: step.chmod === undefined ? undefined : parseChmod(step.chmod),
    add: step.op === 'ADD',
    // Local archives unpack unless `--unpack=false`.
    ...(step.unpack === false ? { unpack: false } : {}),
    exclude: step.exclude,
    parents: step.parents,
    inline: step.heredocs.map((doc) => ({ name: doc.name, content: doc.content })),
  };
}

/** Octal bits, or the symbolic mode itself (the planner checked it) for the copier to apply per file. */
function parseChmod(chmod: string): number | string {
  return /^[0-7]+$/.test(chmod) ? parseInt(chmod, 8) : chmod;
}
