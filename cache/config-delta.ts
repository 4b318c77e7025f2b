/**
 * A cache record stores what a step changed in the image config, not the whole config: with the whole config
 * (history included) every record grows with the steps before it, and a Dockerfile of n steps costs n² in time
 * and disk. The key already covers the parent, so "parent config + delta" is exactly the config the step made.
 * A delta's size follows the step: one history entry, at most one diffId, the settings the step touched.
 */
import type { ContainerConfig, History, ImageConfig } from '../builder/image/types.js';

/** Fields of ContainerConfig that are maps: a delta carries only the keys that changed (null = removed). */
const MAP_FIELDS = ['Labels', 'ExposedPorts', 'Volumes'] as const;
type MapField = (typeof MAP_FIELDS)[number];

export interface ConfigDelta {
  /** Top-level fields other than config/rootfs/history that changed (author, architecture, …); null = removed. */
  top?: Record<string, unknown>;
  /** ContainerConfig fields set to a new value wholesale (Cmd, User, …; a null value is kept as null). */
  set?: Record<string, unknown>;
  /** ContainerConfig fields the step removed. */
  unset?: string[];
  /** Env entries set by name (`NAME=value`), replacing in place or appended, as ENV does. */
  env?: string[];
  /** Changed keys of the map fields; a null value removes the key. */
  maps?: Partial<Record<MapField, Record<string, unknown>>>;
  /** History entries appended by the step. */
  history?: History[];
  /** diffIds appended to rootfs. */
  diffIds?: string[];
  /** The step rewrote history or rootfs (not an append): the full value, rare. */
  fullHistory?: History[];
  fullDiffIds?: string[];
}

const same = (a: unknown, b: unknown): boolean => a === b || JSON.stringify(a) === JSON.stringify(b);

/** What turns `before` into `after`. Costs O(size of the config's settings), not O(history). */
export function diffConfig(before: ImageConfig, after: ImageConfig): ConfigDelta {
  const delta: ConfigDelta = {};
  const top: Record<string, unknown> = {};
  for (const key of new Set([...Object.keys(before), ...Object.keys(after)])) {
    if (key === 'config' || key === 'rootfs' || key === 'history') continue;
    const a = (before as unknown as Record<string, unknown>)[key];
    const b = (after as unknown as Record<string, unknown>)[key];
    if (!same(a, b)) top[key] = b ?? null;
  }
  if (Object.keys(top).length > 0) delta.top = top;
  diffContainerConfig(before.config, after.config, delta);
  const [h0, h1] = [before.history ?? [], after.history ?? []];
  if (isPrefix(h0, h1)) { if (h1.length > h0.length) delta.history = h1.slice(h0.length); } else delta.fullHistory = h1;
  const [d0, d1] = [before.rootfs.diff_ids, after.rootfs.diff_ids];
  if (isPrefix(d0, d1)) { if (d1.length > d0.length) delta.diffIds = d1.slice(d0.length); } else delta.fullDiffIds = d1;
  return delta;
}

function diffContainerConfig(before: ContainerConfig, after: ContainerConfig, delta: ConfigDelta): void {
  const a = before as Record<string, unknown>;
  const b = after as Record<string, unknown>;
  const set: Record<string, unknown> = {};
  for (const key of new Set([...Object.keys(a), ...Object.keys(b)])) {
    if (a[key] === b[key]) continue;
    if (key === 'Env' && Array.isArray(b[key])) {
      const changed = envChanges((a[key] as string[] | undefined) ?? [], b[key] as string[]);
      if (changed === undefined) set[key] = b[key];
      else if (changed.length > 0) delta.env = changed;
    } else if ((MAP_FIELDS as readonly string[]).includes(key) && isMap(a[key] ?? {}) && isMap(b[key])) {
      const changed = mapChanges((a[key] ?? {}) as Record<string, unknown>, b[key] as Record<string, unknown>);
      if (Object.keys(changed).length > 0) (delta.maps ??= {})[key as MapField] = changed;
    } else if (!(key in b) || b[key] === undefined) (delta.unset ??= []).push(key);
    else if (!same(a[key], b[key])) set[key] = b[key];
  }
  if (Object.keys(set).length > 0) delta.set = set;
}

/** The entries of `after` that differ from `before` when Env only changed by set-by-name; undefined otherwise. */
function envChanges(before: string[], after: string[]): string[] | undefined {
  // Set-by-name keeps every earlier name at its position, so `after` is `before` (some values changed) + appended names.
  if (after.length < before.length) return undefined;
  const changed: string[] = [];
  for (let i = 0; i < after.length; i++) {
    const entry = after[i]!;
    if (i < before.length) {
      if (entry === before[i]) continue;
      if (nameOf(entry) !== nameOf(before[i]!)) return undefined;
    }
    changed.push(entry);
  }
  return changed;
}

const nameOf = (entry: string): string => entry.slice(0, entry.indexOf('=') >>> 0);

function mapChanges(before: Record<string, unknown>, after: Record<string, unknown>): Record<string, unknown> {
  const changed: Record<string, unknown> = {};
  for (const key of Object.keys(after)) if (!(key in before) || !same(before[key], after[key])) changed[key] = after[key];
  for (const key of Object.keys(before)) if (!(key in after)) changed[key] = null;
  return changed;
}

const isMap = (value: unknown): boolean => typeof value === 'object' && value !== null && !Array.isArray(value);

function isPrefix<T>(prefix: readonly T[], list: readonly T[]): boolean {
  if (prefix.length > list.length) return false;
  // Entries are shared by reference between a config and the one after it, so this is cheap in the common case.
  for (let i = 0; i < prefix.length; i++) if (prefix[i] !== list[i] && !same(prefix[i], list[i])) return false;
  return true;
}

/** `before` with `delta` applied; `before` is not changed. */
export function applyDelta(before: ImageConfig, delta: ConfigDelta): ImageConfig {
  const out: ImageConfig = {
    ...before,
    config: { ...before.config },
    rootfs: { type: 'layers', diff_ids: delta.fullDiffIds ?? [...before.rootfs.diff_ids, ...(delta.diffIds ?? [])] },
    history: delta.fullHistory ?? [...(before.history ?? []), ...(delta.history ?? [])],
  };
  const top = out as unknown as Record<string, unknown>;
  for (const [key, value] of Object.entries(delta.top ?? {})) {
    if (value === null) delete top[key];
    else top[key] = value;
  }
  const config = out.config as Record<string, unknown>;
  for (const [key, value] of Object.entries(delta.set ?? {})) config[key] = value;
  for (const key of delta.unset ?? []) delete config[key];
  if (delta.env) {
    const env = [...(out.config.Env ?? [])];
    // A scan, not a Map of names: building a Map of the whole Env at every step was the n² of a long ENV list.
    for (const entry of delta.env) {
      const prefix = entry.slice(0, entry.indexOf('=') + 1 || entry.length);
      const at = env.findIndex((existing) => existing.startsWith(prefix));
      if (at < 0) env.push(entry);
      else env[at] = entry;
    }
    out.config.Env = env;
  }
  for (const [field, changes] of Object.entries(delta.maps ?? {}) as [MapField, Record<string, unknown>][]) {
    const map: Record<string, unknown> = { ...((out.config[field] ?? {}) as Record<string, unknown>) };
    for (const [key, value] of Object.entries(changes)) {
      if (value === null) delete map[key];
      else map[key] = value;
    }
    (config as Record<string, unknown>)[field] = map;
  }
  return out;
}
