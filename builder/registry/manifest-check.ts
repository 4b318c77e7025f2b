/** Checks on manifests as they arrive: digest, media type, shape. A registry's word is not trusted. */
import { createHash } from 'node:crypto';
import { BuildError } from '../errors.js';
import { MEDIA_TYPES, type Descriptor, type ImageIndex, type ImageManifest } from '../image/types.js';
import type { FetchedManifest } from './client.js';

const SHA256 = /^sha256:[0-9a-f]{64}$/;

export const sha256Digest = (bytes: Buffer): string => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

/** A parsed manifest or index with its digest and media type. */
export type ParsedManifest =
  | { kind: 'index'; digest: string; mediaType: string; bytes: Buffer; index: ImageIndex }
  | { kind: 'manifest'; digest: string; mediaType: string; bytes: Buffer; manifest: ImageManifest };

const INDEX_TYPES = new Set<string>([MEDIA_TYPES.ociIndex, MEDIA_TYPES.dockerManifestList]);
const MANIFEST_TYPES = new Set<string>([MEDIA_TYPES.ociManifest, MEDIA_TYPES.dockerManifest]);

function checkDescriptor(descriptor: Descriptor | undefined, where: string): void {
  if (!descriptor || typeof descriptor.digest !== 'string' || !SHA256.test(descriptor.digest)) {
    throw new BuildError('LAYER_INVALID', `${where}: a descriptor has a missing or unsupported digest (only sha256 is supported)`);
  }
  if (!Number.isSafeInteger(descriptor.size) || descriptor.size < 0) {
    throw new BuildError('LAYER_INVALID', `${where}: descriptor ${descriptor.digest} has an invalid size`);
  }
}

/**
 * Verifies a fetched manifest against the digest we asked for (or the registry's Docker-Content-Digest)
 * and parses it. `expected` is the digest from the reference or the parent index, when there is one.
 */
export function checkManifest(fetched: FetchedManifest, expected: string | undefined, what: string): ParsedManifest {
  const digest = sha256Digest(fetched.bytes);
  if (expected !== undefined && digest !== expected) {
    throw new BuildError('LAYER_INVALID', `${what}: the manifest does not match its digest ${expected} (got ${digest})`);
  }
  if (fetched.digestHeader !== undefined && fetched.digestHeader.startsWith('sha256:') && fetched.digestHeader !== digest) {
    throw new BuildError('LAYER_INVALID', `${what}: the manifest does not match the digest the registry reports (${fetched.digestHeader}, got ${digest})`);
  }
  let document: Partial<ImageManifest & ImageIndex> & { schemaVersion?: number };
  try {
    document = JSON.parse(fetched.bytes.toString('utf8')) as typeof document;
  } catch {
    throw new BuildError('LAYER_INVALID', `${what}: the manifest is not valid JSON`);
  }
  if (document.schemaVersion !== 2) {
    throw new BuildError('LAYER_INVALID', `${what}: manifest schema version ${String(document.schemaVersion)} is not supported (only schema 2 / OCI)`);
  }
  const mediaType = document.mediaType ?? (fetched.mediaType || (Array.isArray(document.manifests) ? MEDIA_TYPES.ociIndex : MEDIA_TYPES.ociManifest));
  if (INDEX_TYPES.has(mediaType) || (Array.isArray(document.manifests) && !MANIFEST_TYPES.has(mediaType))) {
    if (!Array.isArray(document.manifests)) throw new BuildError('LAYER_INVALID', `${what}: the image index has no manifests list`);
    document.manifests.forEach((m) => checkDescriptor(m, what));
    return { kind: 'index', digest, mediaType, bytes: fetched.bytes, index: document as ImageIndex };
  }
  if (!MANIFEST_TYPES.has(mediaType)) throw new BuildError('LAYER_INVALID', `${what}: unsupported manifest media type "${mediaType}"`);
  if (!document.config || !Array.isArray(document.layers)) throw new BuildError('LAYER_INVALID', `${what}: the manifest lacks config or layers`);
  checkDescriptor(document.config, what);
  document.layers.forEach((l) => checkDescriptor(l, what));
  return { kind: 'manifest', digest, mediaType, bytes: fetched.bytes, manifest: document as ImageManifest };
}
