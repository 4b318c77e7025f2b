import type { ContainerConfig, ImageConfig, Layer } from '../image/types.js';

/** Docker's default PATH, used when an image sets none. */
export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export function emptyImageConfig(): ImageConfig {
  // As BuildKit's emptyImage: FROM scratch still gets the default PATH and WorkingDir "/".
  return { architecture: 'amd64', os: 'linux', config: { Env: [`PATH=${DEFAULT_PATH}`], WorkingDir: '/' }, rootfs: { type: 'layers', diff_ids: [] }, history: [] };
}

/**
 * A copy a step may change without touching the config its parent (or a cache record) holds. History entries
 * are never changed in place, so they are shared: a deep copy of all history at every step made a Dockerfile of
 * n steps cost n² (issue 14). Container settings are copied one level deep; handlers replace nested values.
 */
export function cloneConfig(config: ImageConfig): ImageConfig {
  const settings: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(config.config)) {
    settings[key] = Array.isArray(value) ? [...(value as unknown[])] : value && typeof value === 'object' ? { ...(value as object) } : value;
  }
  return { ...config, config: settings as ContainerConfig, rootfs: { type: 'layers', diff_ids: [...config.rootfs.diff_ids] }, ...(config.history ? { history: [...config.history] } : {}) };
}

/** `created` for history and config: SOURCE_DATE_EPOCH when given (reproducible builds), else now. */
export function createdAt(sourceDateEpoch?: number): string {
  const date = sourceDateEpoch === undefined ? new Date() : new Date(sourceDateEpoch * 1000);
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** The config after a step: the same settings plus one history entry, and the layer's diffId if it made one. */
export function recordStep(config: ImageConfig, createdBy: string, layer: Layer | undefined, sourceDateEpoch?: number): ImageConfig {
  const next = cloneConfig(config);
  if (layer) next.rootfs.diff_ids.push(layer.diffId);
  next.history = [...(next.history ?? []), {
    created: createdAt(sourceDateEpoch),
    created_by: createdBy,
    comment: 'buildkit.dockerfile.v0',
    ...(layer ? {} : { empty_layer: true }),
  }];
  return next;
}

export function getEnv(env: string[] | undefined, name: string): string | undefined {
  const prefix = `${name}=`;
  const entry = (env ?? []).find((e) => e.startsWith(prefix));
  return entry === undefined ? undefined : entry.slice(prefix.length);
}

/** Sets `name=value`, replacing an earlier value in place (Docker keeps the original order). */
export function setEnv(env: string[] | undefined, name: string, value: string): string[] {
  const prefix = `${name}=`;
  const list = [...(env ?? [])];
  const index = list.findIndex((e) => e.startsWith(prefix));
  if (index >= 0) list[index] = `${prefix}${value}`;
  else list.push(`${prefix}${value}`);
  return list;
}

/**
 * The environment a RUN sees: the image's Env plus the build args it can see, PATH defaulted. The planner leaves
 * out args that a later ENV shadows, so an arg given here wins (BuildKit: an ARG declared after ENV overrides it).
 */
export function runEnv(config: ImageConfig, buildArgs: [string, string][]): string[] {
  let env = [...(config.config.Env ?? [])];
  for (const [name, value] of buildArgs) env = setEnv(env, name, value);
  if (getEnv(env, 'PATH') === undefined) env = setEnv(env, 'PATH', DEFAULT_PATH);
  return env;
}

/** Resolves a path written in the Dockerfile against the current WORKDIR, keeping a trailing slash. */
export function resolveImagePath(workingDir: string | undefined, target: string): string {
  const base = workingDir && workingDir !== '' ? workingDir : '/';
  // As current BuildKit (pathRelativeToWorkingDir → NormalizePath keepSlash, then fsutil's Copy makes the dir):
  // ".", a trailing "/" and a trailing "/." make a directory. BuildKit 0.8 (docker 20.10) path.Join'ed "dst/." to dst.
  const trailing = target.endsWith('/') || target === '.' || target.endsWith('/.');
  let resolved = target.startsWith('/') ? target : `${base.replace(/\/+$/, '')}/${target}`;
  resolved = normalizePosix(resolved);
  if (trailing && !resolved.endsWith('/')) resolved += '/';
  return resolved;
}

function normalizePosix(p: string): string {
  const parts: string[] = [];
  for (const part of p.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') parts.pop();
    else parts.push(part);
  }
  return `/${parts.join('/')}`;
}
