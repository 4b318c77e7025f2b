/**
 * `RUN --mount=…` of every type, turned into sandbox mounts (plus env entries for `env=` secrets) for
 * one step, and the part of the step's cache key that the mounts bring in from outside the image.
 * Mount targets are created by runc as needed and removed again by the sandbox's mount-stub
 * cleanup, so no mount leaves anything in the layer.
 */
import path from 'node:path';
import type { RunMount, RunStep } from '../dockerfile/types.js';
import { digestSources } from '../context/copy.js';
import type { SandboxMount } from '../sandbox/spec.js';
import type { MutableSnapshot } from '../snapshot/mount.js';
import { digestOf } from '../../cache/key.js';
import { BuildError } from '../errors.js';
import { bindSourceRel, openBindMount, openBindSource, type OpenedMount } from './run-mount-bind.js';
import { openCacheMount } from './run-mount-cache.js';
import { pruneMountParents } from './run-mount-parents.js';
import { openSecretMount } from './run-mount-secret.js';
import { defaultSshTarget, openSshMount } from './run-mount-ssh.js';
import type { InputsDigester, StepContext } from './types.js';

/** The mounts of one RUN, ready for runSandbox; release after the container has exited. */
export interface PreparedRunMounts {
  mounts: SandboxMount[];
  /** `NAME=value` entries for secrets mounted as env vars. */
  env: string[];
  /** The first ssh mount's socket, for SSH_AUTH_SOCK when the step's env has none (llb.ExecOp). */
  sshAuthSock?: string;
  /** Unmounts overlays, drops temp copies and secret files, frees cache locks; safe to call twice. */
  release(): Promise<void>;
}

/** A mount target inside the container: relative targets start at the step's WORKDIR. */
export function mountTarget(target: string, workingDir: string | undefined): string {
  return path.posix.resolve(workingDir || '/', target);
}

/** Opens every mount of `step` (in order; any failure releases the ones already opened). */
export async function prepareRunMounts(step: RunStep, ctx: StepContext): Promise<PreparedRunMounts> {
  const opened: { mount?: SandboxMount; release(): Promise<void> }[] = [];
  const env: string[] = [];
  const release = async (): Promise<void> => {
    const errors: unknown[] = [];
    for (const item of opened.splice(0).reverse()) await item.release().catch((err: unknown) => errors.push(err));
    if (errors.length > 0) throw errors[0];
  };
  let sshCount = 0;
  let sshAuthSock: string | undefined;
  try {
    for (const mount of step.mounts) {
      if (mount.type === 'ssh') {
        // The n-th ssh mount of the RUN, counting those with a target and skipped optional ones (llb.ExecOp).
        // BuildKit hands the target to the executor as written (dispatchSSH): a relative one lands under `/`, not
        // the WORKDIR, and SSH_AUTH_SOCK carries it unresolved.
        const written = mount.target ?? defaultSshTarget(sshCount);
        sshCount++;
        const target = mountTarget(written, '/');
        sshAuthSock ??= written;
        opened.push(await openSshMount(mount, target, ctx));
        continue;
      }
      const item = await openMount(mount, ctx);
      opened.push(item);
      if ('env' in item && item.env) env.push(item.env);
    }
  } catch (err) {
    await release().catch(() => undefined);
    throw err;
  }
  const mounts = opened.flatMap((item) => (item.mount ? [item.mount] : []));
  return { mounts: sortByDepth(mounts), env, ...(sshAuthSock ? { sshAuthSock } : {}), release };
}

async function openMount(mount: RunMount, ctx: StepContext): Promise<{ mount?: SandboxMount; env?: string; release(): Promise<void> }> {
  const workingDir = ctx.config.config.WorkingDir;
  // BuildKit's dispatchRunMounts: nothing may be mounted over the root (`target=/`, or `.` under WORKDIR /).
  if ((mount.type === 'bind' || mount.type === 'cache' || mount.type === 'tmpfs') && mountTarget(mount.target, workingDir) === '/') {
    throw new BuildError('DOCKERFILE_INVALID', 'invalid mount target "/"');
  }
  switch (mount.type) {
    case 'bind':
      return openBindMount(mount, mountTarget(mount.target, workingDir), ctx);
    case 'cache':
      return openCacheMount(mount, mountTarget(mount.target, workingDir), ctx);
    case 'tmpfs':
      return tmpfsMount(mountTarget(mount.target, workingDir), mount.size);
    case 'secret':
      return openSecretMount(mount, mount.target === undefined ? undefined : mountTarget(mount.target, workingDir), ctx);
    case 'ssh':
      throw new Error('ssh mounts are opened by prepareRunMounts');
  }
}

function tmpfsMount(target: string, size: number | undefined): OpenedMount {
  return { mount: { type: 'tmpfs', target, options: size === undefined ? [] : [`size=${size}`] }, release: async () => {} };
}

/**
 * After a successful run with mounts: unmounts the snapshot and drops the parents of mount targets that
 * runc's stubs merely copied up (see run-mount-parents.ts). Releases the snapshot if unmounting fails.
 */
export async function tidyMountParents(snapshot: MutableSnapshot, lowerdirs: string[], mounts: SandboxMount[]): Promise<void> {
  if (mounts.length === 0) return;
  try {
    await snapshot.unmount();
  } catch (err) {
    await snapshot.release();
    throw err;
  }
  await pruneMountParents(snapshot.upperdir, lowerdirs, mounts.map((mount) => mount.target));
}

/** Parents before children (`/src` before `/src/node_modules`), otherwise in Dockerfile order. */
function sortByDepth(mounts: SandboxMount[]): SandboxMount[] {
  const depth = (mount: SandboxMount): number => mount.target.split('/').filter((part) => part !== '').length;
  return mounts.map((mount, index) => ({ mount, index }))
    .sort((a, b) => depth(a.mount) - depth(b.mount) || a.index - b.index)
    .map(({ mount }) => mount);
}

/**
 * The RUN's cache input from its mounts: for a bind of the context, the content digest of the
 * mounted files (as COPY would compute it); for a bind or cache `from` a stage or image, that
 * source's key and path. Cache contents, tmpfs, secrets and ssh agents are not inputs (a secret's value must
 * never be part of a key, nor which agent or keys answer an ssh mount). Undefined when no mount has an input,
 * so plain RUN keys stay as they were.
 */
export const runMountInputs: InputsDigester<'RUN'> = async (step, ctx) => {
  const records: unknown[] = [];
  const files: Record<string, string> = {};
  for (const mount of step.mounts) {
    if (mount.type !== 'bind' && !(mount.type === 'cache' && mount.from)) continue;
    const rel = bindSourceRel(mount);
    if (mount.from) {
      records.push([mount.type, mount.target, (await ctx.fromSource(mount.from)).key, rel]);
      continue;
    }
    // Checks the source exists first, so a missing one is reported as a mount error, not a COPY one.
    const source = await openBindSource(mount, ctx);
    await source.release();
    const digest = await digestSources(
      { root: ctx.contextDir, isContext: true, ignore: ctx.ignore },
      { sources: [rel === '' ? '.' : rel], dest: '/', add: false, exclude: [], parents: false },
      files,
    );
    records.push([mount.type, mount.target, digest]);
  }
  if (records.length === 0) return undefined;
  return { digest: digestOf(JSON.stringify(['builder.run-mounts.v1', records])), files };
};
