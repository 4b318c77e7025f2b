import { stat } from 'node:fs/promises';
import path from 'node:path';
import { BuildError } from '../errors.js';
import type { ContainerConfig } from '../image/types.js';
import type { SandboxMount } from '../sandbox/spec.js';

/** What `builder run` flags can override in the image's config, as `docker run` names them. */
export interface ProcessOverrides {
  cmd?: string[];
  /** `--entrypoint`: replaces Entrypoint and clears Cmd; '' clears Entrypoint. */
  entrypoint?: string;
  /** `-e K=V` sets, `-e K` copies K from `hostEnv` (dropped when unset there). */
  env?: string[];
  workdir?: string;
  user?: string;
}

/** The container process derived from the image config and the run flags. */
export interface ContainerProcess { args: string[]; env: string[]; cwd: string; user: string }

/** Merges image config and flags exactly as docker run does. */
export function containerProcess(
  config: ContainerConfig,
  overrides: ProcessOverrides,
  extraEnv: string[] = [],
  hostEnv: NodeJS.ProcessEnv = process.env,
): ContainerProcess {
  const entrypoint = overrides.entrypoint !== undefined
    ? (overrides.entrypoint === '' ? [] : [overrides.entrypoint])
    : (config.Entrypoint ?? []);
  const cmd = overrides.cmd !== undefined && overrides.cmd.length > 0
    ? overrides.cmd
    : overrides.entrypoint !== undefined ? [] : (config.Cmd ?? []);
  const args = [...entrypoint, ...cmd];
  if (args.length === 0) throw new BuildError('INVALID_ARGUMENT', 'no command specified');

  const cwd = overrides.workdir ?? (config.WorkingDir || '/');
  if (!path.isAbsolute(cwd)) {
    throw new BuildError('INVALID_ARGUMENT', `the working directory '${cwd}' is invalid, it needs to be an absolute path`);
  }
  const flagEnv = (overrides.env ?? []).flatMap((entry) => {
    if (entry.includes('=')) return [entry];
    const value = hostEnv[entry];
    return value === undefined ? [] : [`${entry}=${value}`];
  });
  for (const entry of flagEnv) {
    if (entry.startsWith('=')) throw new BuildError('INVALID_ARGUMENT', `invalid environment variable: ${entry}`);
  }
  return { args, env: mergeEnv([...extraEnv, ...(config.Env ?? [])], flagEnv), cwd, user: overrides.user ?? config.User ?? '' };
}

/**
 * Later entries replace earlier ones with the same name, keeping the first position; an override without `=`
 * unsets the name (docker's ReplaceOrAppendEnvValues: `docker run -e NAME` with NAME unset in the client's
 * environment sends a bare `NAME`, and the process must not get it).
 */
export function mergeEnv(base: string[], overrides: string[]): string[] {
  const result: (string | undefined)[] = [...base];
  const index = new Map(result.map((entry, i) => [entry!.split('=', 1)[0]!, i]));
  for (const entry of overrides) {
    const name = entry.split('=', 1)[0]!;
    const at = index.get(name);
    if (!entry.includes('=')) {
      if (at !== undefined) result[at] = undefined;
      index.delete(name);
    } else if (at === undefined) {
      index.set(name, result.length);
      result.push(entry);
    } else {
      result[at] = entry;
    }
  }
  return result.filter((entry): entry is string => entry !== undefined);
}

/** Parses `-v /host:/ctr[:ro|rw]` into bind mounts; the host path must be absolute and exist. */
export async function parseVolumes(volumes: string[]): Promise<SandboxMount[]> {
  const mounts: SandboxMount[] = [];
  for (const volume of volumes) {
    const parts = volume.split(':');
    if (parts.length < 2 || parts.length > 3 || parts[0] === '' || parts[1] === '') {
      throw new BuildError('INVALID_ARGUMENT', `invalid volume specification "${volume}": expected /host/path:/container/path[:ro]`);
    }
    const [source, target, mode = 'rw'] = parts as [string, string, string?];
    if (!path.isAbsolute(source)) {
      throw new BuildError('INVALID_ARGUMENT',
        `invalid volume specification "${volume}": "${source}" is not an absolute path (named volumes are not supported; use an absolute host path)`);
    }
    if (!path.isAbsolute(target)) {
      throw new BuildError('INVALID_ARGUMENT', `invalid volume specification "${volume}": mount path "${target}" must be absolute`);
    }
    if (mode !== 'ro' && mode !== 'rw') throw new BuildError('INVALID_ARGUMENT', `invalid volume specification "${volume}": invalid mode "${mode}"`);
    const exists = await stat(source).then(() => true, () => false);
    if (!exists) {
      throw new BuildError('INVALID_ARGUMENT', `invalid volume specification "${volume}": host path "${source}" does not exist`);
    }
    mounts.push({ type: 'bind', source, target, readonly: mode === 'ro' });
  }
  return mounts;
}
