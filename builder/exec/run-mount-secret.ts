/**
 * `RUN --mount=type=secret`: a value given with `builder build --secret`, shown to one step as a
 * read-only file (default `/run/secrets/<id>`) or an env var, and nowhere else: the file is written to
 * a private dir in RAM (/dev/shm when there is one) outside the rootfs, bound over the target and
 * deleted after the step; its mount stub is removed, so the layer never holds it. The cache key sees
 * only the mount's options, never the value (changing a secret does not rebuild, as in BuildKit).
 */
import { existsSync } from 'node:fs';
import { chmod, chown, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { RunMount } from '../dockerfile/types.js';
import { BuildError } from '../errors.js';
import type { OpenedMount } from './run-mount-bind.js';
import type { StepContext } from './types.js';
import { isProcessAlive } from '../store/file-lock.js';

export type SecretMount = Extract<RunMount, { type: 'secret' }>;

/** What a secret mount adds to a step: a file mount and/or an env entry (`NAME=value`). */
export interface OpenedSecret {
  mount?: OpenedMount['mount'];
  env?: string;
  release(): Promise<void>;
}

/** A RAM-backed dir when the host has one, so secret bytes never reach a disk. */
function secretsParent(): string {
  return existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir();
}

const SECRET_DIR_PREFIX = 'builder-secret-';


/** Secret dirs of builds that were killed before they could clean up (`builder-secret-<pid>-…`). */
async function removeOrphanedSecrets(parent: string): Promise<void> {
  for (const name of await readdir(parent).catch(() => [] as string[])) {
    const match = new RegExp(`^${SECRET_DIR_PREFIX}(\\d+)-`).exec(name);
    if (match && !isProcessAlive(Number(match[1]))) await rm(path.join(parent, name), { recursive: true, force: true }).catch(() => undefined);
  }
}

/**
 * Opens a secret mount; `target` is the absolute target, or undefined for an env-only secret.
 * A missing secret is an error when `required`, else the mount is skipped (returns nothing to mount).
 */
export async function openSecretMount(mount: SecretMount, target: string | undefined, ctx: Pick<StepContext, 'secrets'>): Promise<OpenedSecret> {
  const value = ctx.secrets?.get(mount.id);
  const none = async (): Promise<void> => {};
  if (value === undefined) {
    if (mount.required) throw new BuildError('INVALID_ARGUMENT', `secret ${mount.id}: not found (pass it with --secret id=${mount.id},src=FILE or env=VAR)`);
    return { release: none };
  }
  const env = mount.env ? `${mount.env}=${value.toString('utf8')}` : undefined;
  if (target === undefined) return { env, release: none };
  const parent = secretsParent();
  await removeOrphanedSecrets(parent);
  const dir = await mkdtemp(path.join(parent, `${SECRET_DIR_PREFIX}${process.pid}-`));
  const release = (): Promise<void> => rm(dir, { recursive: true, force: true });
  try {
    const file = path.join(dir, 'secret');
    await writeFile(file, value, { mode: 0o400 });
    await chmod(file, mount.mode ?? 0o400);
    await chown(file, mount.uid ?? 0, mount.gid ?? 0);
    return { mount: { type: 'bind', source: file, target, readonly: true }, env, release };
  } catch (err) {
    await release();
    throw err;
  }
}
