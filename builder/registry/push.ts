/**
 * `builder push`: every blob of the image (layers and config, concurrently; HEAD, mount or upload each),
 * then the manifest under its tag. The manifest goes last so no reader sees it before its blobs.
 */
import PQueue from 'p-queue';
import { loadConfig, type BuilderConfig } from '../config.js';
import { BuildError } from '../errors.js';
import { fullName, parseReference } from '../image/reference.js';
import type { Descriptor, ImageManifest } from '../image/types.js';
import type { Store } from '../store/store.js';
import { inSpan, type Span } from '../trace/tracer.js';
import { Authorizer, type CredentialSource } from './auth.js';
import { BlobSources } from './blob-sources.js';
import { fetchBlob } from './blob-fetch.js';
import { DEFAULT_CHUNK_SIZE, uploadBlob, type UploadOutcome } from './blob-upload.js';
import { RegistryClient } from './client.js';
import { registryEndpoint } from './endpoints.js';
import { backoffMs, sleep } from './http.js';
import { sha256Digest } from './manifest-check.js';
import { TransferReport, type TransferSink } from './transfer-report.js';

/** Options of a push. */
export interface PushOptions {
  config?: BuilderConfig;
  onProgress?: (message: string) => void;
  /** Per-blob progress (docker push's lines); the CLI renders it. */
  onTransfer?: TransferSink;
  signal?: AbortSignal;
  /** Blobs larger than this are uploaded in chunks of this size (default 1 GiB). */
  chunkSize?: number;
  /** Where credentials come from (default: docker's config file); the daemon passes X-Registry-Auth. */
  credentials?: CredentialSource;
}

/**
 * A push that starts while its build still writes the image (builder/solver/export-image.ts): the config and
 * manifest come from memory, and the two hooks hold back what must wait.
 */
export interface PushBuiltOptions extends PushOptions {
  /** Settles when the image's config blob is in the store: awaited before uploading it (a HEAD or mount need not wait). */
  blobsWritten: PromiseLike<unknown>;
  /** Awaited before the manifest PUT: a build checks its cache hits' layers here, so no pushed manifest names a broken one. */
  beforeManifest: () => Promise<void>;
  /** More `authority/repository` sources by digest: lazily cached layers whose sources are not yet in blob-sources.json. */
  sources: ReadonlyMap<string, string>;
  /** What each blob's HEAD in the target repository found (its size, or undefined): export-image.ts's proof of a cached layer. */
  onBlobHead?: (digest: string, size: number | undefined) => void;
  /** The build's `push` span: the push's own phases (blob HEADs/mounts, the wait for the checks, the manifest PUT) go under it. */
  span?: Span;
  /**
   * `authority/repository@manifestDigest` of pushes the farm says completed (cache/shared-held.ts): a push of that
   * manifest to that repository skips its blob HEADs, as a push whose blobs blob-sources.json places there does.
   */
  heldManifests?: ReadonlySet<string>;
}

/** What a push sends: the manifest's bytes and what they name. */
export interface PushableImage {
  manifest: ImageManifest;
  manifestBytes: Buffer;
  mediaType: string;
}

/** What a push did, blob by blob; for progress and tests. */
export interface PushResult {
  reference: string;
  digest: string;
  /** `authority/repository` pushed to (the registry's authority as dialled: the key of blob-sources.json and the farm's facts). */
  repository?: string;
  blobs?: Record<string, UploadOutcome>;
}

const BLOB_CONCURRENCY = 4;
/** Manifest PUTs retried after MANIFEST_BLOB_UNKNOWN (see pushImage). */
const MANIFEST_RETRIES = 3;

/** Pushes local image `source` to `destination` (`host/repo:tag`). */
export async function pushImage(store: Store, source: string, destination: string, options: PushOptions = {}): Promise<PushResult> {
  const image = await store.resolve(source);
  if (!image) throw new BuildError('IMAGE_NOT_FOUND', `cannot push "${source}": no such image in the local store`);
  const manifestBytes = await store.readBlob(image.manifestDescriptor.digest);
  return pushManifest(store, { manifest: image.manifest, manifestBytes, mediaType: image.manifest.mediaType ?? image.manifestDescriptor.mediaType }, source, destination, options);
}

/** Pushes an image a build has just made, beside the build's own writes (see PushBuiltOptions). */
export function pushBuiltImage(store: Store, image: PushableImage, destination: string, options: PushBuiltOptions): Promise<PushResult> {
  return pushManifest(store, image, destination, destination, options);
}

async function pushManifest(store: Store, image: PushableImage, source: string, destination: string, options: PushOptions & Partial<PushBuiltOptions>): Promise<PushResult> {
  const target = parseReference(destination);
  const config = options.config ?? (await loadConfig());
  const endpoint = registryEndpoint(target.registry, config);
  const client = new RegistryClient(endpoint, target.repository, new Authorizer(options.credentials), 'pull,push', options.signal);
  const name = fullName(target);
  const sources = new BlobSources(store.root);

  const { manifestBytes, mediaType } = image;
  const digest = sha256Digest(manifestBytes);
  const blobs: Descriptor[] = [...image.manifest.layers, image.manifest.config];

  // Ask for pull access to every repository we may mount from, so one token covers them all.
  const mountFrom = new Map<string, string[]>();
  const span = options.span;
  const targetSource = `${endpoint.authority}/${target.repository}`;
  // The farm says this very manifest is in the target: the PUT needs nothing from blob-sources.json, so it is not read
  // (a stale fact's second pass mounts from the build's own sources, the cache repository).
  const farmHeld = options.heldManifests?.has(`${targetSource}@${digest}`) === true;
  const known = farmHeld ? {} : await inSpan(span, 'blob sources', () => sources.all());
  for (const blob of blobs) {
    const extra = options.sources?.get(blob.digest);
    const candidates = [...(extra ? [extra] : []), ...(known[blob.digest] ?? [])];
    const repos = [...new Set(candidates.filter((c) => c.startsWith(`${endpoint.authority}/`)).map((c) => c.slice(endpoint.authority.length + 1)))]
      .filter((r) => r !== target.repository);
    mountFrom.set(blob.digest, repos);
    for (const repo of repos.slice(0, 1)) {
      const scope = `repository:${repo}:pull`;
      if (!client.context.scopes.includes(scope)) client.context.scopes.push(scope);
    }
  }

  const outcomes: Record<string, UploadOutcome> = {};
  const queue = new PQueue({ concurrency: BLOB_CONCURRENCY });
  const report = new TransferReport('push', name, options.onTransfer);
  // docker lists layers only; the config is pushed too but not shown.
  for (const layer of image.manifest.layers) report.status(layer.digest, 'waiting');
  // `mount: false` on the second pass: a cross-repository mount the registry acknowledged but did not keep (seen with
  // two workers pushing the same image at once) is uploaded instead.
  const pushBlob = async (blob: Descriptor, mount: boolean): Promise<void> => {
    const kind = blob === image.manifest.config ? 'config' : 'layer';
    const outcome = await inSpan(span, `push ${kind}`, () => uploadBlob(client, store.blobPath(blob.digest), blob, `uploading ${kind} ${blob.digest} to ${name}`, {
      onSent: kind === 'layer' ? (offset) => report.status(blob.digest, 'uploading', { current: offset, total: blob.size }) : undefined,
      chunkSize: options.chunkSize ?? DEFAULT_CHUNK_SIZE,
      mountFrom: mount ? mountFrom.get(blob.digest) ?? [] : [],
      onHead: (size) => options.onBlobHead?.(blob.digest, size),
      // A layer a cache hit named lives only in a registry until something needs it: this push to another one does.
      beforeUpload: async () => {
        if (kind === 'config') await options.blobsWritten;
        const extra = options.sources?.get(blob.digest);
        if (!(await store.hasBlob(blob.digest))) await fetchBlob(store, blob, { config, signal: options.signal, sources: extra ? [extra] : [] });
      },
    }), { digest: blob.digest });
    outcomes[blob.digest] = outcome;
    if (kind === 'layer') {
      const status = ({ exists: 'layer-exists', mounted: 'mounted', uploaded: 'pushed' } as const)[outcome];
      report.status(blob.digest, status, { from: outcome === 'mounted' ? mountFrom.get(blob.digest)?.[0] : undefined });
    }
    if (!options.onTransfer) {
      const said = { exists: 'Layer already exists', mounted: 'Mounted', uploaded: 'Pushed' }[outcome];
      options.onProgress?.(`${blob.digest.slice(7, 19)}: ${said}`);
    }
  };
  // The config (a few hundred bytes) does not queue behind the layers: with four layers it waited for a slot, a whole
  // HEAD round trip on the push's longest path (traced in the shared-cache bench: it started 4–7 ms into the push).
  // Largest layers first: the biggest upload is the push's longest path, so its requests take the first host slots.
  const bySize = [...image.manifest.layers].sort((a, b) => b.size - a.size);
  const pushBlobs = (mount: boolean): Promise<unknown> => Promise.all([
    ...bySize.map((layer) => queue.add(() => pushBlob(layer, mount), { throwOnTimeout: true })),
    pushBlob(image.manifest.config, mount),
  ]);
  // A manifest whose blobs are all known to be in the target (this store pushed them there, or the farm pushed this
  // very manifest there) is PUT without asking for them: a warm worker's no-op push is then one request, and a fresh
  // worker's too. A stale hint costs one refused PUT (MANIFEST_BLOB_UNKNOWN), then the HEADs below as always.
  let trusted = farmHeld || blobs.every((blob) => known[blob.digest]?.includes(targetSource));
  if (trusted) {
    for (const blob of blobs) {
      outcomes[blob.digest] = 'exists';
      // The fact stands in for the HEAD, size included (the manifest names these sizes): export-image.ts's proof.
      if (blob !== image.manifest.config) options.onBlobHead?.(blob.digest, blob.size);
    }
    for (const layer of image.manifest.layers) report.status(layer.digest, 'layer-exists');
    if (!options.onTransfer) for (const blob of blobs) options.onProgress?.(`${blob.digest.slice(7, 19)}: Layer already exists`);
  } else {
    await pushBlobs(true);
  }

  const tagOrDigest = target.digest ?? target.tag ?? 'latest';
  if (target.digest !== undefined && target.digest !== digest) {
    throw new BuildError('INVALID_REFERENCE', `cannot push "${source}" as ${name}: its manifest digest is ${digest}`);
  }
  if (options.beforeManifest) await inSpan(span, 'wait for checks', options.beforeManifest);
  const putManifest = (): Promise<string | undefined> => client.putManifest(tagOrDigest, manifestBytes, mediaType, `uploading the manifest of ${name}`);
  // Every blob is in the repository now (or, trusted, was known to be: a stale hint is pushed again below), whatever
  // becomes of the manifest: note that beside the manifest PUT rather than after it (a read and an atomic write of
  // blob-sources.json, off the push's longest path).
  const recorded = inSpan(span, 'record sources', () => sources.record(blobs.map((b) => b.digest), endpoint.authority, target.repository).catch(() => undefined));
  let reported: string | undefined;
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        reported = await inSpan(span, 'manifest PUT', putManifest);
        break;
      } catch (err) {
        // The hint was stale (a blob left the repository since): no race to wait out, just push the blobs. Any refusal
        // but auth counts: the spec's answer is MANIFEST_BLOB_UNKNOWN, other registries word it otherwise.
        if (trusted && err instanceof BuildError && err.code !== 'REGISTRY_AUTH' && err.code !== 'CANCELLED') {
          trusted = false;
          attempt--;
          await pushBlobs(true);
          continue;
        }
        // docker-registry 2.8 rewrites a repository's blob link in place (truncate, then write) each time a blob is
        // mounted or uploaded again, so while another pusher of the same image re-links a blob, our manifest check can
        // read an empty link: MANIFEST_BLOB_UNKNOWN (with DIGEST_INVALID). Reproduced by test/registry-push-race.test.ts.
        // Wait, make sure every blob is there (without mounts), and ask again.
        if (!(err instanceof BuildError) || !/MANIFEST_BLOB_UNKNOWN|DIGEST_INVALID/.test(err.message) || attempt >= MANIFEST_RETRIES) throw err;
        await sleep(backoffMs(attempt), options.signal);
        await pushBlobs(false);
      }
    }
  } finally {
    await recorded;
  }
  if (reported !== undefined && reported !== digest) {
    throw new BuildError('REGISTRY_UNAVAILABLE', `uploading the manifest of ${name}: the registry stored digest ${reported}, expected ${digest}`);
  }
  options.onProgress?.(`${target.tag ?? ''}: digest: ${digest} size: ${manifestBytes.length}`);
  return { reference: name, digest, repository: targetSource, blobs: outcomes };
}
