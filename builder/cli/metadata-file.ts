/**
 * `builder build --metadata-file FILE`: the JSON buildx writes for CI, so scripts that read
 * `containerimage.digest` or `image.name` from buildx work unchanged.
 */
import path from 'node:path';
import { BuildError, errorMessage } from '../errors.js';
import { fullName, parseReference } from '../image/reference.js';
import type { Descriptor, ImageManifest } from '../image/types.js';
import { writeFileAtomic } from '../store/atomic-write.js';
import type { Store } from '../store/store.js';

/** buildx's keys (a subset: no provenance, no buildx.build.ref since there is no builder instance). */
export interface BuildMetadata {
  'containerimage.digest': string;
  'containerimage.config.digest': string;
  'containerimage.descriptor': { mediaType: string; digest: string; size: number; annotations: Record<string, string>; platform?: Descriptor['platform'] };
  /** Full names, comma-separated, as buildx prints them: `docker.io/library/app:latest`. */
  'image.name'?: string;
  /** Pushed `name@digest` references (buildx has none; CI jobs want them). */
  'builder.pushed'?: string[];
}

export async function buildMetadata(store: Store, manifest: Descriptor, tags: string[], pushed: string[] = []): Promise<BuildMetadata> {
  const parsed = await store.readJson<ImageManifest>(manifest.digest);
  const metadata: BuildMetadata = {
    'containerimage.digest': manifest.digest,
    'containerimage.config.digest': parsed.config.digest,
    'containerimage.descriptor': {
      mediaType: manifest.mediaType,
      digest: manifest.digest,
      size: manifest.size,
      annotations: { 'config.digest': parsed.config.digest },
      ...(manifest.platform ? { platform: manifest.platform } : {}),
    },
  };
  if (tags.length > 0) metadata['image.name'] = tags.map((tag) => fullName(parseReference(tag))).join(',');
  if (pushed.length > 0) metadata['builder.pushed'] = pushed;
  return metadata;
}

/** Writes the metadata atomically; a directory that does not exist is a clear error, not a stack trace. */
export async function writeMetadataFile(file: string, metadata: BuildMetadata): Promise<void> {
  try {
    await writeFileAtomic(path.resolve(file), `${JSON.stringify(metadata, null, 2)}\n`);
  } catch (err) {
    throw new BuildError('INVALID_ARGUMENT', `cannot write --metadata-file ${file}: ${errorMessage(err)}`, { cause: err });
  }
}
