/**
 * The automatic GC: after a build, keep the store's managed size under a configured limit
 * (env BUILDER_GC_KEEP_STORAGE, else `[gc] keepStorage` in the config file). The common case — nothing
 * was added since the last measurement — costs a few stats.
 */
import { loadConfig } from '../config.js';
import { BuildError } from '../errors.js';
import { prune, type PruneReport } from './gc.js';
import { parseByteSize, parseDuration } from './gc-options.js';
import { measureManagedSize, readGcState, unchangedSince, writeGcState } from './gc-state.js';
import type { Store } from './store.js';

async function configuredKeepStorage(env: NodeJS.ProcessEnv): Promise<unknown> {
  const gc = (await loadConfig(env.BUILDER_CONFIG)).raw.gc;
  return gc !== null && typeof gc === 'object' ? (gc as { keepStorage?: unknown }).keepStorage : undefined;
}

/** The configured limit in bytes, or undefined when automatic GC is off. */
export async function gcKeepStorage(env: NodeJS.ProcessEnv = process.env): Promise<number | undefined> {
  const fromEnv = env.BUILDER_GC_KEEP_STORAGE;
  if (fromEnv !== undefined && fromEnv.trim() !== '') return parseByteSize(fromEnv, 'BUILDER_GC_KEEP_STORAGE');
  const fromConfig = await configuredKeepStorage(env);
  if (fromConfig === undefined || fromConfig === null || fromConfig === '') return undefined;
  if (typeof fromConfig === 'number' && Number.isFinite(fromConfig) && fromConfig >= 0) return fromConfig;
  if (typeof fromConfig === 'string') return parseByteSize(fromConfig, '[gc] keepStorage in the config file');
  throw new BuildError('INVALID_ARGUMENT', `invalid [gc] keepStorage in the config file: ${JSON.stringify(fromConfig)} (use a size such as "10g")`);
}

/**
 * How long unreferenced new blobs and snapshots are protected (BUILDER_GC_GRACE, e.g. `10m`; default 10 min).
 * A build or `builder load` writes blobs before anything refers to them.
 */
export function gcGraceMs(env: NodeJS.ProcessEnv = process.env): number | undefined {
  const text = env.BUILDER_GC_GRACE;
  return text === undefined || text.trim() === '' ? undefined : parseDuration(text, 'BUILDER_GC_GRACE');
}

/** Runs a keep-storage prune when the store may be over `keepStorage` (default: the configured limit). */
export async function autoGc(store: Store, options: { keepStorage?: number } = {}): Promise<PruneReport | undefined> {
  const keepStorage = options.keepStorage ?? (await gcKeepStorage());
  if (keepStorage === undefined) return undefined;
  const state = await readGcState(store);
  // Unchanged since the last measurement: either still under the limit, or a prune already did what it could.
  if (state && (await unchangedSince(store, state.measuredAtMs))) return undefined;
  const measured = await measureManagedSize(store);
  await writeGcState(store, measured);
  if (measured.size <= keepStorage) return undefined;
  return prune(store, { keepStorage, graceMs: gcGraceMs(), background: true });
}
