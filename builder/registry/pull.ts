/**
 * `builder pull`: reference → manifest (through mirrors first) → the chosen platform → config and layers
 * streamed into the store concurrently → manifest blob → tag. Blobs go in before the manifest, the manifest
 * before the tag, so the store never names an image whose parts are missing.
 */
import PQueue from 'p-queue';
import { loadConfig, type BuilderConfig } from '../config.js';
import { BuildError, errorMessage } from '../errors.js';
import { familiarName, fullName, parseReference, type Reference } from '../image/reference.js';
import type { Descriptor, Image, ImageConfig } from '../image/types.js';
import { loadImage } from '../store/image-lookup.js';
import type { Store } from '../store/store.js';
import { Authorizer, type CredentialSource } from './auth.js';
import { BlobSources } from './blob-sources.js';
import { downloadBlob } from './blob-download.js';
import { RegistryClient } from './client.js';
import { pullEndpoints, type Endpoint } from './endpoints.js';
import { checkManifest, type ParsedManifest } from './manifest-check.js';
import { TransferReport, type TransferSink } from './transfer-report.js';
import { chooseManifest, DEFAULT_PLATFORM, formatPlatform, parsePlatform } from './platform.js';

/** Options of a pull. */
export interface PullOptions {
  /** `os/arch[/variant]`; linux/amd64 by default. */
  platform?: string;
  config?: BuilderConfig;
  onProgress?: (message: string) => void;
  /** Per-layer progress (docker pull's lines); the CLI renders it. */
  onTransfer?: TransferSink;
  signal?: AbortSignal;
  /** Where credentials come from (default: docker's config file); the daemon passes X-Registry-Auth. */
  credentials?: CredentialSource;
}

const LAYER_CONCURRENCY = 4;

/** Pulls `ref` into the store, tags it by its familiar name (unless pulled by digest) and returns the image. */
export async function pullImage(store: Store, ref: string, options: PullOptions = {}): Promise<Image> {
  const reference = parseReference(ref);
  const config = options.config ?? (await loadConfig());
  const platform = parsePlatform(options.platform ?? DEFAULT_PLATFORM);
  const auth = new Authorizer(options.credentials);
  const endpoints = pullEndpoints(reference.registry, config);
  for (const [i, endpoint] of endpoints.entries()) {
    try {
      return await pullFrom(store, reference, endpoint, auth, platform, options);
    } catch (err) {
      if (options.signal?.aborted || i === endpoints.length - 1) throw err;
      // Like docker and BuildKit: a failing mirror falls through to the next endpoint.
      options.onProgress?.(`mirror ${endpoint.authority} failed for ${fullName(reference)}: ${errorMessage(err)}; trying ${endpoints[i + 1]!.authority}`);
    }
  }
  throw new BuildError('INTERNAL', 'no registry endpoint to pull from');
}

async function pullFrom(
  store: Store, reference: Reference, endpoint: Endpoint, auth: Authorizer, platform: ReturnType<typeof parsePlatform>, options: PullOptions,
): Promise<Image> {
  const name = fullName(reference);
  const via = endpoint.mirror ? ` (mirror ${endpoint.authority})` : '';
  const client = new RegistryClient(endpoint, reference.repository, auth, 'pull', options.signal);
  const what = (task: string): string => `pulling ${name}${via}: ${task}`;
  const tagOrDigest = reference.digest ?? reference.tag ?? 'latest';

  options.onProgress?.(`${tagOrDigest}: pulling from ${endpoint.authority}/${reference.repository}`);
  const top = checkManifest(await client.getManifest(tagOrDigest, what('fetching the manifest')), reference.digest, what('checking the manifest'));
  let chosen: ParsedManifest = top;
  let platformOfChoice: Descriptor['platform'];
  if (top.kind === 'index') {
    const entry = chooseManifest(top.index, platform, `image ${name}`);
    platformOfChoice = entry.platform;
    const fetched = await client.getManifest(entry.digest, what(`fetching the ${formatPlatform(platform)} manifest ${entry.digest}`));
    chosen = checkManifest(fetched, entry.digest, what(`checking the ${formatPlatform(platform)} manifest`));
    if (chosen.kind !== 'manifest') throw new BuildError('LAYER_INVALID', what(`manifest ${entry.digest} is an index inside an index, which is not supported`));
  }
  if (chosen.kind !== 'manifest') throw new BuildError('INTERNAL', 'unreachable');
  const manifest = chosen.manifest;

  // The config and the layers download together: waiting for the config first cost a round trip and a small
  // download before the first layer byte. Its checks still come before anything is tagged.
  const queue = new PQueue({ concurrency: LAYER_CONCURRENCY });
  const report = new TransferReport('pull', familiarName(reference), options.onTransfer);
  let downloaded = 0;
  for (const layer of manifest.layers) report.status(layer.digest, (await store.hasBlob(layer.digest)) ? 'exists' : 'waiting');
  const configReady = queue.add(async () => {
    await downloadBlob(client, store, manifest.config, what(`downloading config ${manifest.config.digest}`));
    return store.readJson<ImageConfig>(manifest.config.digest);
  }, { throwOnTimeout: true }).then((imageConfig) => {
    const diffIds = imageConfig.rootfs?.diff_ids;
    if (!Array.isArray(diffIds) || diffIds.length !== manifest.layers.length) {
      throw new BuildError('LAYER_INVALID', what(`the manifest has ${manifest.layers.length} layers but the config lists ${diffIds?.length ?? 0} diff_ids`));
    }
    if (top.kind === 'manifest' && (imageConfig.os !== platform.os || imageConfig.architecture !== platform.architecture)) {
      options.onProgress?.(`WARNING: ${name} is ${imageConfig.os}/${imageConfig.architecture}, not the requested ${formatPlatform(platform)}`);
    }
    return imageConfig;
  });
  const layersReady = Promise.all(manifest.layers.map((layer) => queue.add(async () => {
    const bytes = await downloadBlob(client, store, layer, what(`downloading layer ${layer.digest}`), (received) => {
      report.status(layer.digest, 'downloading', { current: received, total: layer.size });
    });
    downloaded += bytes;
    if (bytes > 0) report.status(layer.digest, 'complete', { current: bytes, total: layer.size });
    if (!options.onTransfer) options.onProgress?.(`${layer.digest.slice(7, 19)}: ${bytes === 0 ? 'already exists' : 'pull complete'}`);
  }, { throwOnTimeout: true })));
  // Both are awaited (Promise.all), so a failure of either is reported and neither rejection goes unhandled.
  const [imageConfig] = await Promise.all([configReady, layersReady]);

  // Keep the index too, so a later `name@<index digest>` resolves offline.
  if (top.kind === 'index') await store.writeBlob(top.bytes);
  await store.writeBlob(chosen.bytes);
  const descriptor: Descriptor = { mediaType: chosen.mediaType, digest: chosen.digest, size: chosen.bytes.length };
  descriptor.platform = platformOfChoice ?? { os: imageConfig.os, architecture: imageConfig.architecture };
  if (reference.digest === undefined) await store.tag(familiarName(reference), descriptor);
  await new BlobSources(store.root)
    .record([manifest.config.digest, ...manifest.layers.map((l) => l.digest)], endpoint.authority, reference.repository)
    .catch(() => undefined);
  options.onProgress?.(`Digest: ${top.digest}`);
  options.onProgress?.(`Status: downloaded ${downloaded} bytes for ${familiarName(reference)}`);
  return loadImage(store, descriptor);
}
