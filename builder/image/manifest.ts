import { createHash } from 'node:crypto';
import { BuildError } from '../errors.js';
import type { Store } from '../store/store.js';
import { configMediaType, layerMediaType, manifestMediaType, type ManifestFormat } from './media-types.js';
import { type Descriptor, type ImageConfig, type ImageManifest, type Layer, type Platform } from './types.js';

/** Deterministic JSON (fixed key order as written by the code; no whitespace) for config/manifest/index blobs. */
export function canonicalJson(value: unknown): string {
  // Key order is the construction order of our own objects, so equal inputs give equal bytes (and digests).
  return JSON.stringify(value);
}

/**
 * An image manifest for a config descriptor and layers (base first), OCI unless `format` says docker
 * (Docker v2 schema 2). Every descriptor is converted to the manifest's family, so a base pulled in the
 * other format does not leave its layer types behind.
 */
export function buildManifest(
  configDescriptor: Descriptor, layers: Layer[], annotations?: Record<string, string>, format: ManifestFormat = 'oci',
): ImageManifest {
  const manifest: ImageManifest = {
    schemaVersion: 2,
    mediaType: manifestMediaType(format),
    config: { mediaType: configMediaType(format), digest: configDescriptor.digest, size: configDescriptor.size },
    layers: layers.map((layer) => ({ mediaType: layerMediaType(layer.mediaType, format), digest: layer.digest, size: layer.size })),
  };
  // Docker v2s2 has no annotations field; dropping them beats a manifest strict readers refuse.
  if (format === 'oci' && annotations && Object.keys(annotations).length > 0) manifest.annotations = annotations;
  return manifest;
}

/** The platform an image config declares. */
export function platformOf(config: ImageConfig): Platform {
  const platform: Platform = { architecture: config.architecture, os: config.os };
  if (config.variant) platform.variant = config.variant;
  return platform;
}

/** An image's config and manifest as bytes, before anything is written: what the store and a push both need. */
export interface EncodedImage {
  configBytes: Buffer;
  manifest: ImageManifest;
  manifestBytes: Buffer;
  /** The manifest's descriptor, with the platform from the config. */
  descriptor: Descriptor;
}

/** Encodes config + manifest for `layers` (base first); checks that the config's diff_ids name exactly those layers. */
export function encodeImage(config: ImageConfig, layers: Layer[], format: ManifestFormat = 'oci'): EncodedImage {
  const diffIds = config.rootfs.diff_ids;
  if (diffIds.length !== layers.length || layers.some((layer, i) => layer.diffId !== diffIds[i])) {
    // A mismatch would make an image no runtime can unpack; it is always an engine bug.
    throw new BuildError('INTERNAL', `image config lists diff_ids [${diffIds.join(', ')}] but the layers are [${layers.map((l) => l.diffId).join(', ')}]`);
  }
  const configBytes = Buffer.from(canonicalJson(config));
  const configBlob = { digest: sha256(configBytes), size: configBytes.length };
  const manifest = buildManifest({ mediaType: configMediaType(format), ...configBlob }, layers, undefined, format);
  const manifestBytes = Buffer.from(canonicalJson(manifest));
  return {
    configBytes, manifest, manifestBytes,
    descriptor: { mediaType: manifestMediaType(format), digest: sha256(manifestBytes), size: manifestBytes.length, platform: platformOf(config) },
  };
}

/**
 * Writes an encoded image's config and manifest blobs to the store. Both at once: each write ends with an fsync,
 * and a build whose steps all hit on an empty store (a fresh farm worker) waits for nothing else. Nothing names
 * the manifest until the tag, written after both.
 */
export async function writeEncodedImage(store: Store, image: EncodedImage): Promise<Descriptor> {
  await Promise.all([store.writeBlob(image.configBytes), store.writeBlob(image.manifestBytes)]);
  return image.descriptor;
}

/** Writes config and manifest blobs to the store and returns the manifest descriptor (with platform from config). */
export async function writeImage(store: Store, config: ImageConfig, layers: Layer[], format: ManifestFormat = 'oci'): Promise<Descriptor> {
  return writeEncodedImage(store, encodeImage(config, layers, format));
}

function sha256(bytes: Buffer): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}
