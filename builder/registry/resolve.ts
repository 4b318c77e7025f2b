/**
 * How a build finds its base images: the local store first, a pull when the image is missing,
 * and with `--pull` a fresh look at every tag (once per build).
 */
import type { BuilderConfig } from '../config.js';
import { BuildError } from '../errors.js';
import { fullName, parseReference } from '../image/reference.js';
import type { Image } from '../image/types.js';
import type { Store } from '../store/store.js';
import type { TransferSink } from './transfer-report.js';

/** Options of a build's image resolver. */
export interface ResolveOptions {
  /** Re-check tags against the registry even when the store has them (`--pull`). */
  pull?: boolean;
  platform?: string;
  config?: BuilderConfig;
  onProgress?: (message: string) => void;
  /** Per-layer progress of the pulls (a build passes its event sink). */
  onTransfer?: TransferSink;
  signal?: AbortSignal;
}

/** A function from a FROM reference to its image, pulling when needed; each reference is resolved once. */
export function imageResolver(store: Store, options: ResolveOptions = {}): (ref: string) => Promise<Image> {
  const resolved = new Map<string, Promise<Image>>();
  let config: Promise<BuilderConfig> | undefined;
  const pull = async (ref: string): Promise<Image> => {
    // Imported on first use: most builds find every base image in the store.
    config ??= options.config ? Promise.resolve(options.config) : import('../config.js').then((m) => m.loadConfig());
    const { pullImage } = await import('./pull.js');
    return pullImage(store, ref, { config: await config, platform: options.platform, onProgress: options.onProgress, onTransfer: options.onTransfer, signal: options.signal });
  };
  const resolve = async (ref: string): Promise<Image> => {
    const reference = parseReference(ref);
    // A digest names content: if we have it, the registry cannot tell us anything newer.
    const local = options.pull && reference.digest === undefined ? undefined : await store.resolve(ref);
    if (local) return local;
    try {
      return await pull(ref);
    } catch (err) {
      if (!(err instanceof BuildError) || (err.code !== 'REGISTRY_NOT_FOUND' && err.code !== 'REGISTRY_UNAVAILABLE')) throw err;
      throw new BuildError(
        'IMAGE_NOT_FOUND',
        `failed to resolve source metadata for ${fullName(reference)}: ${ref} is not in the local store and could not be pulled: ${err.message}`,
        { cause: err },
      );
    }
  };
  return (ref) => {
    let image = resolved.get(ref);
    if (!image) {
      image = resolve(ref);
      resolved.set(ref, image);
    }
    return image;
  };
}
