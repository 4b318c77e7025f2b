/**
 * `--cache-to` / `--cache-from`: the records a build used, exported as an OCI artifact (transfer-format.ts) to a
 * registry or a local OCI layout directory, and imported lazily: the records document first, a layer blob only
 * when a step needs its files (registry) or on a hit (local directory: a copy, checked against its digest).
 */
import { createHash } from 'node:crypto';
import { copyFile, mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { loadConfig, type BuilderConfig } from '../builder/config.js';
import { BuildError } from '../builder/errors.js';
import type { Layer } from '../builder/image/types.js';
import { parseReference } from '../builder/image/reference.js';
import type { Store } from '../builder/store/store.js';
import { writeFileAtomic } from '../builder/store/atomic-write.js';
import type { RegistryClient } from '../builder/registry/client.js';
import type { CacheBackend, CacheCall, CacheEntry, CacheHit } from './backend.js';
import {
  cacheManifest, parseCacheManifest, parseRecords, recordLayers, recordsDocument, type CacheExportSpec, type CacheImportSpec,
} from './transfer-format.js';

async function registryClient(ref: string, actions: 'pull' | 'pull,push', config?: BuilderConfig, signal?: AbortSignal) {
  const [{ RegistryClient }, { Authorizer }, { registryEndpoint }] = await Promise.all([
    import('../builder/registry/client.js'), import('../builder/registry/auth.js'), import('../builder/registry/endpoints.js'),
  ]);
  const target = parseReference(ref);
  const endpoint = registryEndpoint(target.registry, config ?? (await loadConfig()));
  const client: RegistryClient = new RegistryClient(endpoint, target.repository, new Authorizer(), actions, signal);
  return { client, tag: target.digest ?? target.tag ?? 'latest', source: `${endpoint.authority}/${target.repository}` };
}

/** Writes `records` as a cache artifact. Layers not in the store (lazy hits) are mounted, or fetched first. */
export async function exportCache(store: Store, records: Map<string, CacheEntry>, spec: CacheExportSpec, signal?: AbortSignal): Promise<void> {
  const { fetchBlob } = await import('../builder/registry/blob-fetch.js');
  const layers = recordLayers(records);
  const document = recordsDocument(records);
  const stored = await store.writeBlob(document);
  const manifest = Buffer.from(JSON.stringify(cacheManifest(stored, layers)));
  if (spec.type === 'local') {
    const blobs = path.join(spec.dest, 'blobs', 'sha256');
    await mkdir(blobs, { recursive: true });
    for (const layer of layers) {
      if (!(await store.hasBlob(layer.digest))) await fetchBlob(store, layer, { signal });
      await copyFile(store.blobPath(layer.digest), path.join(blobs, layer.digest.slice(7)));
    }
    await writeFileAtomic(path.join(blobs, stored.digest.slice(7)), document);
    const manifestDigest = `sha256:${createHash('sha256').update(manifest).digest('hex')}`;
    await writeFileAtomic(path.join(blobs, manifestDigest.slice(7)), manifest);
    await writeFileAtomic(path.join(spec.dest, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
    // index.json last: a reader never sees an index whose blobs are not there yet.
    await writeFileAtomic(path.join(spec.dest, 'index.json'), JSON.stringify({
      schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: manifestDigest, size: manifest.length, annotations: { 'org.opencontainers.image.ref.name': 'latest' } }],
    }));
    return;
  }
  const [{ uploadBlob, DEFAULT_CHUNK_SIZE }, { BlobSources }] = await Promise.all([
    import('../builder/registry/blob-upload.js'), import('../builder/registry/blob-sources.js'),
  ]);
  const { client, tag } = await registryClient(spec.ref, 'pull,push', undefined, signal);
  const sources = new BlobSources(store.root);
  for (const blob of [...layers, { ...stored, mediaType: 'application/vnd.builder.cache.records.v1+json' }]) {
    const mountFrom = (await sources.repositoriesWith(blob.digest, client.endpoint.authority)).filter((r) => r !== client.repository);
    for (const repo of mountFrom.slice(0, 1)) client.context.scopes.push(`repository:${repo}:pull`);
    await uploadBlob(client, store.blobPath(blob.digest), blob, `exporting cache blob ${blob.digest} to ${client.name}`, {
      chunkSize: DEFAULT_CHUNK_SIZE, mountFrom,
      beforeUpload: async () => { if (!(await store.hasBlob(blob.digest))) await fetchBlob(store, blob, { signal }); },
    });
  }
  await client.putManifest(tag, manifest, 'application/vnd.oci.image.manifest.v1+json', `exporting the cache manifest to ${client.name}:${tag}`);
}

/** Reads a cache artifact's records (not its layers). */
export async function importCache(store: Store, spec: CacheImportSpec, signal?: AbortSignal): Promise<ImportedCache> {
  if (spec.type === 'local') {
    const index = JSON.parse(await readFile(path.join(spec.src, 'index.json'), 'utf8')) as { manifests?: { digest: string }[] };
    const digest = index.manifests?.[0]?.digest;
    if (!digest) throw new BuildError('INVALID_ARGUMENT', `${spec.src} holds no cache manifest`);
    const blob = (d: string): Promise<Buffer> => readFile(path.join(spec.src, 'blobs', 'sha256', d.replace(/^sha256:/, '')));
    const manifest = parseCacheManifest(await blob(digest), spec.src);
    return new ImportedCache(store, parseRecords(await blob(manifest.config.digest), spec.src), { dir: spec.src });
  }
  const { downloadBlob } = await import('../builder/registry/blob-download.js');
  const { client, tag, source } = await registryClient(spec.ref, 'pull', undefined, signal);
  const fetched = await client.getManifest(tag, `reading the cache ${spec.ref}`);
  const manifest = parseCacheManifest(fetched.bytes, spec.ref);
  await downloadBlob(client, store, manifest.config, `reading the cache records of ${spec.ref}`);
  return new ImportedCache(store, parseRecords(await store.readBlob(manifest.config.digest), spec.ref), { source });
}

/** Records imported for one build: read-only; a hit's layer stays where it is until its files are needed. */
export class ImportedCache implements CacheBackend {
  readonly name = 'import';

  constructor(private readonly store: Store, private readonly records: Map<string, CacheEntry>, private readonly from: { source: string } | { dir: string }) {}

  get size(): number {
    return this.records.size;
  }

  async get(key: string, call: CacheCall): Promise<CacheHit | undefined> {
    const entry = this.records.get(key);
    if (!entry) return undefined;
    if (!entry.layer || (await this.store.hasBlob(entry.layer.digest))) return { ...entry, backend: this.name };
    if ('source' in this.from) return { ...entry, backend: this.name, blobSource: this.from.source };
    try {
      await this.copyFromDir(entry.layer, this.from.dir);
      return { ...entry, backend: this.name };
    } catch (err) {
      call.warn(`--cache-from ${this.from.dir}: layer ${entry.layer.digest}: ${(err as Error).message}; running the step again`);
      this.records.delete(key);
      return undefined;
    }
  }

  private async copyFromDir(layer: Layer, dir: string): Promise<void> {
    const bytes = await readFile(path.join(dir, 'blobs', 'sha256', layer.digest.replace(/^sha256:/, '')));
    const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
    if (digest !== layer.digest || bytes.length !== layer.size) throw new Error(`its bytes do not match (${digest}, ${bytes.length} bytes)`);
    await this.store.writeBlob(bytes);
  }

  async put(): Promise<void> {}

  async forget(key: string): Promise<void> {
    this.records.delete(key);
  }
}

/** The engine's cache first, then imports; writes go to the engine's cache only. */
export class WithImports implements CacheBackend {
  readonly name: string;
  constructor(private readonly primary: CacheBackend, private readonly imports: CacheBackend[]) {
    this.name = primary.name;
  }

  async get(key: string, call: CacheCall): Promise<CacheHit | undefined> {
    const hit = await this.primary.get(key, call);
    if (hit) return hit;
    for (const source of this.imports) {
      const imported = await source.get(key, call);
      if (imported) return imported;
    }
    return undefined;
  }

  put(key: string, entry: CacheEntry, call: CacheCall, layerPath?: string): Promise<void> {
    return this.primary.put(key, entry, call, layerPath);
  }

  get acquire(): CacheBackend['acquire'] {
    return this.primary.acquire?.bind(this.primary);
  }

  get getTrace(): CacheBackend['getTrace'] {
    return this.primary.getTrace?.bind(this.primary);
  }

  get putTrace(): CacheBackend['putTrace'] {
    return this.primary.putTrace?.bind(this.primary);
  }

  async forget(key: string): Promise<void> {
    await this.primary.forget?.(key);
    for (const source of this.imports) await source.forget?.(key);
  }
}
