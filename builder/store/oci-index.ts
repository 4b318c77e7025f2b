import { randomBytes } from 'node:crypto';
import { link, open, readFile, rename, unlink } from 'node:fs/promises';
import { BuildError } from '../errors.js';
import { canonicalJson } from '../image/manifest.js';
import { normalizeTag } from '../image/reference.js';
import { MEDIA_TYPES, REF_NAME_ANNOTATION, type Descriptor, type ImageIndex } from '../image/types.js';

export const EMPTY_INDEX: ImageIndex = { schemaVersion: 2, mediaType: MEDIA_TYPES.ociIndex, manifests: [] };

/** Writes `content` to `path` via a synced temp file and rename, so readers see the old or the new file, never a mix. */
export async function writeFileAtomic(path: string, content: string | Buffer, options: { overwrite: boolean } = { overwrite: true }): Promise<void> {
  const temp = `${path}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  const handle = await open(temp, 'w');
  try {
    await handle.writeFile(content);
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    if (options.overwrite) {
      await rename(temp, path);
      return;
    }
    // link() refuses to replace, which makes "create unless present" atomic.
    await link(temp, path).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'EEXIST') throw err;
    });
  } finally {
    if (!options.overwrite) await unlink(temp).catch(() => undefined);
  }
}

export async function readIndex(path: string): Promise<ImageIndex> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new BuildError('STORE_CORRUPT', `cannot read ${path}: ${(err as Error).message}; the store may not be initialised`, { cause: err });
  }
  try {
    const index = JSON.parse(text) as ImageIndex;
    if (!Array.isArray(index.manifests)) throw new Error('no "manifests" array');
    return index;
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
