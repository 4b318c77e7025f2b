/**
 * The exported cache format (`--cache-to` / `--cache-from`), documented in docs/CACHE-FORMAT.md: an OCI image
 * manifest whose config is the records document and whose layers are the layer blobs the records name, so a
 * registry keeps (and garbage-collects) them together and any OCI tool can copy the artifact.
 */
import { BuildError } from '../builder/errors.js';
import type { Descriptor, Layer } from '../builder/image/types.js';
import { MEDIA_TYPES } from '../builder/image/types.js';
import type { CacheEntry } from './backend.js';

export const CACHE_ARTIFACT_TYPE = 'application/vnd.builder.cache.v1';
export const CACHE_RECORDS_MEDIA_TYPE = 'application/vnd.builder.cache.records.v1+json';
const RECORDS_VERSION = 'builder.cache.v1';

/** What `--cache-to` writes. `min`: the final image's steps; `max`: every stage's. */
export type CacheExportSpec =
  | { type: 'registry'; ref: string; mode: 'min' | 'max' }
  | { type: 'local'; dest: string; mode: 'min' | 'max' };

/** What `--cache-from` reads. */
export type CacheImportSpec = { type: 'registry'; ref: string; /** a missing artifact is no warning (the farm's implicit import) */ optional?: boolean } | { type: 'local'; src: string };

export interface RecordsDocument {
  version: string;
  records: Record<string, CacheEntry>;
}

export interface CacheManifest {
  schemaVersion: 2;
  mediaType: string;
  artifactType: string;
  config: Descriptor;
  layers: Descriptor[];
}

export function recordsDocument(records: Map<string, CacheEntry>): Buffer {
  const sorted = [...records.entries()].sort(([a], [b]) => a.localeCompare(b));
  const doc: RecordsDocument = {
    version: RECORDS_VERSION,
    records: Object.fromEntries(sorted.map(([key, e]) => [key, { layer: e.layer, delta: e.delta, createdBy: e.createdBy, preimage: e.preimage, builtBy: e.builtBy }])),
  };
  return Buffer.from(JSON.stringify(doc));
}

/** The distinct layers the records name, as descriptors. */
export function recordLayers(records: Map<string, CacheEntry>): Layer[] {
  const layers = new Map<string, Layer>();
  for (const entry of records.values()) if (entry.layer) layers.set(entry.layer.digest, entry.layer);
  return [...layers.values()];
}

export function cacheManifest(records: { digest: string; size: number }, layers: Layer[]): CacheManifest {
  return {
    schemaVersion: 2,
    mediaType: MEDIA_TYPES.ociManifest,
    artifactType: CACHE_ARTIFACT_TYPE,
    config: { mediaType: CACHE_RECORDS_MEDIA_TYPE, digest: records.digest, size: records.size },
    layers: layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size })),
  };
}

/** Checks a fetched manifest is a builder cache; returns its records descriptor. */
export function parseCacheManifest(bytes: Buffer, where: string): CacheManifest {
  let manifest: CacheManifest;
  try {
    manifest = JSON.parse(bytes.toString('utf8')) as CacheManifest;
  } catch {
    throw new BuildError('INVALID_ARGUMENT', `${where} is not a builder cache (its manifest is not JSON)`);
  }
  if (manifest?.config?.mediaType !== CACHE_RECORDS_MEDIA_TYPE) {
    throw new BuildError('INVALID_ARGUMENT', `${where} is not a builder cache (config media type ${String(manifest?.config?.mediaType)})`);
  }
  return manifest;
}

export function parseRecords(bytes: Buffer, where: string): Map<string, CacheEntry> {
  const doc = JSON.parse(bytes.toString('utf8')) as RecordsDocument;
  if (doc.version !== RECORDS_VERSION || typeof doc.records !== 'object') {
    throw new BuildError('INVALID_ARGUMENT', `${where}: unsupported cache records version ${String(doc.version)}`);
  }
  const out = new Map<string, CacheEntry>();
  for (const [key, entry] of Object.entries(doc.records)) {
    if (/^sha256:[0-9a-f]{64}$/.test(key) && typeof entry?.delta === 'object' && typeof entry.createdBy === 'string') out.set(key, entry);
  }
  return out;
}
