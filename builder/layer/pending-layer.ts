/**
 * A built layer whose blob is still being compressed (exec/commit.ts). Its diffId is final, and its snapshot
 * exists, which is all the next step, the cache key and the image config need. `digest`, `size` and
 * `mediaType` are read through getters that throw until the blob is complete, so code that needs the blob
 * (a manifest, a cache record, a push) and forgot to `await settleLayer()` fails loudly instead of naming a
 * blob that does not exist. Once complete, the object reads (and spreads, and serialises) as a plain Layer.
 */
import { BuildError } from '../errors.js';
import type { Layer } from '../image/types.js';

export class PendingLayer implements Layer {
  declare readonly digest: string;
  declare readonly size: number;
  declare readonly mediaType: string;
  readonly diffId: string;
  /** The finished layer; rejects when compressing or storing the blob failed. Not enumerable: not a Layer field. */
  declare readonly ready: Promise<Layer>;

  constructor(diffId: string, ready: Promise<Layer>) {
    this.diffId = diffId;
    let done: Layer | undefined;
    const settled = ready.then((layer) => (done = layer));
    settled.catch(() => undefined); // observed by settleLayer(); never an unhandled rejection
    Object.defineProperty(this, 'ready', { value: settled, enumerable: false });
    const field = (name: 'digest' | 'size' | 'mediaType') => ({
      enumerable: true,
      get: () => {
        if (!done) throw new BuildError('INTERNAL', `layer ${diffId}: its blob is still being compressed (${name} read before settleLayer)`);
        return done[name];
      },
    });
    // Own enumerable accessors: `{ ...layer }` and JSON.stringify see the fields (and throw while pending).
    Object.defineProperties(this, { digest: field('digest'), size: field('size'), mediaType: field('mediaType') });
  }
}

/** The layer with its blob complete (a plain object); a layer that was never pending is returned as is. */
export async function settleLayer(layer: Layer): Promise<Layer> {
  return layer instanceof PendingLayer ? layer.ready : layer;
}

export function settleLayers(layers: Layer[]): Promise<Layer[]> {
  return Promise.all(layers.map(settleLayer));
}
