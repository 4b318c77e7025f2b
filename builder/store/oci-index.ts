import { readFileSync } from 'node:fs';
import { writeFileAtomic } from './atomic-write.js';
import { BuildError } from '../errors.js';
import { canonicalJson } from '../image/manifest.js';
import { normalizeTag } from '../image/reference.js';
import { MEDIA_TYPES, REF_NAME_ANNOTATION, type Descriptor, type ImageIndex } from '../image/types.js';

export const EMPTY_INDEX: ImageIndex = { schemaVersion: 2, mediaType: MEDIA_TYPES.ociIndex, manifests: [] };

/** index.json: read directly (it is small, and read by nearly every command, a no-op rebuild twice). */
export async function readIndex(path: string): Promise<ImageIndex> {
  return readIndexText(path).index;
}

/** index.json and the exact text it was parsed from (a prepared tag compares that text before it replaces the file). */
export function readIndexText(path: string): { text: string; index: ImageIndex } {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new BuildError('STORE_CORRUPT', `cannot read ${path}: ${(err as Error).message}; the store may not be initialised`, { cause: err });
  }
  try {
    const index = JSON.parse(text) as ImageIndex;
    if (!Array.isArray(index.manifests)) throw new Error('no "manifests" array');
    return { text, index };
  } catch (err) {
    throw new BuildError('STORE_CORRUPT', `${path} is not a valid OCI index: ${(err as Error).message}`, { cause: err });
  }
}

export async function writeIndex(path: string, index: ImageIndex): Promise<void> {
  await writeFileAtomic(path, canonicalJson(index));
}

/** The ref.name annotation of an index entry, if any. */
export function refNameOf(entry: Descriptor): string | undefined {
  return entry.annotations?.[REF_NAME_ANNOTATION];
}

/** `app:latest` is also written as `app` so that `oci:dir:app` works; this gives that second name. */
export function aliasOf(tag: string): string | undefined {
  return tag.endsWith(':latest') ? tag.slice(0, -':latest'.length) : undefined;
}

/** The store tag a ref.name stands for (`app` → `app:latest`), or the raw name when it is not a reference. */
export function canonicalTagOf(refName: string): string {
  try {
    return normalizeTag(refName);
  } catch {
    return refName;
  }
}

/** An index entry naming `manifest` as `refName`. */
export function taggedEntry(manifest: Descriptor, refName: string): Descriptor {
  const entry: Descriptor = { mediaType: manifest.mediaType, digest: manifest.digest, size: manifest.size };
  entry.annotations = { ...(manifest.annotations ?? {}), [REF_NAME_ANNOTATION]: refName };
  if (manifest.platform) entry.platform = manifest.platform;
  return entry;
}

/** A copy of `entry` without our ref.name annotation. */
export function plainDescriptor(entry: Descriptor): Descriptor {
  const descriptor: Descriptor = { mediaType: entry.mediaType, digest: entry.digest, size: entry.size };
  const { [REF_NAME_ANNOTATION]: _refName, ...rest } = entry.annotations ?? {};
  if (Object.keys(rest).length > 0) descriptor.annotations = rest;
  if (entry.platform) descriptor.platform = entry.platform;
  return descriptor;
}
