/**
 * The end of a build: the image's config and manifest blobs into the store, the cache hits' blob checks, the tags,
 * and, when the request asks (the farm's `push`), the push of every tag, all at once where order allows.
 *
 * What must stay ordered: no local tag before the blobs are written and the checks have passed (a tag never names a
 * manifest that is missing or a layer the cache lacks; the new index.json is written and fsynced beside the blobs,
 * and only renamed into place after them); no manifest PUT before the checks have passed (a pushed image
 * never names a broken cache layer); the config blob is uploaded from the store, so an upload of it waits for the
 * write. What need not wait: a push reads the manifest from memory, and its HEADs and mounts of the layers and the
 * config overlap the local fsyncs. A fresh farm worker whose steps all hit writes two new blobs and pushes; before,
 * the push began after the tag, so the fsyncs and the push's round trips added up.
 *
 * A build that pushes returns once its push is done: its result is the pushed digest, and the push has the image's
 * bytes in memory. Its local save (the blobs with their fsyncs, then the tag's rename, then blob-sources.json) goes on
 * in `saved`, which the engine holds a lease for and awaits before its next build and its close, and the farm worker
 * before it ends the job (docs/ARCHITECTURE.md, shared cache, seventh pass). The order within the save is what it
 * was: the tag is renamed in only after its blobs are fsynced and renamed, so a crash never leaves a tag naming a lost
 * or short blob. A failed save is a warning and leaves no tag; the pushed image is not affected.
 */
import type { BuilderConfig } from '../config.js';
import { errorMessage } from '../errors.js';
import { writeEncodedImage, type EncodedImage } from '../image/manifest.js';
import type { Descriptor } from '../image/types.js';
import { recordRemoteLayers } from '../registry/blob-sources.js';
import type { PushResult } from '../registry/push.js';
import type { TransferSink } from '../registry/transfer-report.js';
import type { Store } from '../store/store.js';
import type { Span } from '../trace/tracer.js';
import type { BuildSession } from './session.js';

/** `push` of a build request: push every tag once the image is made (what a farm worker does with `push: true`). */
export interface BuildPushOptions {
  config?: BuilderConfig;
  onTransfer?: TransferSink;
}

export interface ExportedImage {
  manifest: Descriptor;
  /** One per tag, in tag order, when the request asked for a push. */
  pushed?: PushResult[];
  /**
   * A pushed build's local save, still under way when the result is returned; never rejects: it settles with the
   * warning it emitted when the save failed (no tag was written then), else undefined.
   */
  saved?: Promise<string | undefined>;
}

/** Writes, checks, tags and (optionally) pushes `image`; see the file comment for what waits for what. */
export async function exportImage(
  store: Store, session: BuildSession, span: Span, image: EncodedImage, tags: string[], push: BuildPushOptions | undefined, signal?: AbortSignal,
  alongside?: () => Promise<void>,
): Promise<ExportedImage> {
  const save = new LocalSave(store, span, image, tags);
  // A build that pushes writes nothing until it has returned (pushThenSave), unless its push asks for the config blob
  // (an upload reads it from the store): the fsyncs would hold libuv's pool threads the push's own file work waits for.
  if (!(push && tags.length > 0)) save.start();
  // The cache hits' blob checks end while the image's blobs are written; a problem repairs the build before any tag
  // names the image (orphan config/manifest blobs are prune's, as any untagged blob).
  const heads = push && tags.length > 0 ? new HeadResults(image.manifest.layers.map((layer) => layer.digest)) : undefined;
  const checks = span.child('blob checks', () => session.settleChecks(heads ? async (digest) => {
    const layer = session.remoteLayers.get(digest)?.layer;
    return layer !== undefined && (await heads.size(digest)) === layer.size;
  } : undefined));
  const pushing = heads && push ? span.child('push', (pushSpan) => pushTags(store, session, image, tags, push, checks, save.written, signal, pushSpan, heads)) : undefined;
  // A push that failed before it asked about every layer proves nothing more; the checks then ask the cache.
  pushing?.finally(() => heads?.done()).catch(() => undefined);
  // Settled below in every case; until then a rejection must not count as unhandled.
  pushing?.catch(() => undefined);
  if (pushing) return pushThenSave(store, session, span, image, tags, { save, checks, pushing }, alongside);
  try {
    await Promise.all([save.start(), checks]);
  } catch (err) {
    await save.discard();
    throw err;
  }
  await Promise.all([
    span.child('tag', () => save.commit()),
    // Where this build's lazily cached layers live (registry/blob-sources.json), for later pushes, runs and exports;
    // written once the checks passed, beside the tag.
    recordRemoteLayers(store.root, session.remoteLayers),
    // The engine's --cache-to exports (a farm worker's artifact in its cache repository): another push, to another
    // repository, so it goes beside this one.
    alongside ? span.child('cache export', alongside) : undefined,
  ]);
  return { manifest: image.descriptor };
}

/**
 * The push's side of exportImage: the result once the checks passed and the push (and the cache export beside it)
 * is done; the local save after the blobs' writes, in `saved`. A push that fails still saves first (as before, a
 * failed push leaves the local tag), so the engine's repair loop never builds again beside a save.
 */
async function pushThenSave(
  store: Store, session: BuildSession, span: Span, image: EncodedImage, tags: string[],
  work: { save: LocalSave; checks: Promise<void>; pushing: Promise<PushResult[]> },
  alongside?: () => Promise<void>,
): Promise<ExportedImage> {
  const { save, checks, pushing } = work;
  try {
    await checks;
  } catch (err) {
    // The push stops at its manifest (it waits for the same checks); let it finish before the engine's repair loop
    // builds again, so two pushes of the same tag never overlap.
    await pushing.catch(() => undefined);
    await save.discard();
    throw err;
  }
  // The save starts once the build has ended (its session closed) and its caller has had the result: until then its
  // fsyncs would hold libuv's pool threads that the build's own end (removing temp dirs, releasing mounts) waits for.
  // A push that fails saves at once (its error waits for the save).
  let now: () => void = () => undefined;
  const failed = new Promise<void>((resolve) => { now = resolve; });
  const saved = (async (): Promise<string | undefined> => {
    await Promise.race([session.ended, failed]);
    await new Promise((resolve) => setImmediate(resolve));
    try {
      await save.start();
      await Promise.all([
        span.child('tag', () => save.commit()),
        recordRemoteLayers(store.root, session.remoteLayers),
      ]);
      return undefined;
    } catch (err) {
      await save.discard();
      const warning = `${tags.join(', ')} was pushed, but saving the image in this worker's store failed (it is not tagged here): ${errorMessage(err)}`;
      session.warn(warning);
      return warning;
    }
  })();
  try {
    const [pushed] = await Promise.all([pushing, alongside ? span.child('cache export', alongside) : undefined]);
    return { manifest: image.descriptor, pushed, saved };
  } catch (err) {
    now();
    await saved;
    throw err;
  }
}

/**
 * The image into the local store: config and manifest blobs (each fsynced), the tags' next index.json prepared and
 * fsynced beside them (store.prepareTags), renamed into place by commit() only after the blobs are in.
 */
class LocalSave {
  private writing?: Promise<unknown>;
  private tagging?: Promise<Awaited<ReturnType<Store['prepareTags']>>>;
  /** Awaiting this starts the writes (a push uploading the config reads it from the store). */
  readonly written: PromiseLike<unknown> = { then: (done, failed) => this.start().then(done, failed) };

  constructor(private readonly store: Store, private readonly span: Span, private readonly image: EncodedImage, private readonly tags: string[]) {}

  start(): Promise<unknown> {
    if (!this.writing) {
      this.writing = this.span.child('write image', () => writeEncodedImage(this.store, this.image));
      this.writing.catch(() => undefined);
      if (this.tags.length > 0) {
        this.tagging = this.span.child('prepare tag', () => this.store.prepareTags(this.tags, this.image.descriptor));
        this.tagging.catch(() => undefined);
      }
    }
    return this.writing;
  }

  /** Once start() has settled and the checks passed: the tags, renamed in after the blobs they name. */
  async commit(): Promise<void> {
    await (await this.tagging)?.commit();
  }

  /** A build that failed before its tag (or a save that failed): the writes end, the prepared index goes. */
  async discard(): Promise<void> {
    await this.writing?.catch(() => undefined);
    await (await this.tagging?.catch(() => undefined))?.discard();
  }
}

/** Tags one after another: two manifests of one repository pushed at once race in docker-registry (see push.ts). */
async function pushTags(
  store: Store, session: BuildSession, image: EncodedImage, tags: string[], push: BuildPushOptions,
  checks: Promise<void>, writing: PromiseLike<unknown>, signal: AbortSignal | undefined, span: Span, heads: HeadResults,
): Promise<PushResult[]> {
  const { pushBuiltImage } = await import('../registry/push.js');
  // Layers a cache hit named live only in a registry until needed; their sources reach blob-sources.json when the
  // build ends, after this push, so the push is told them here (a mount from the cache repository, or a fetch).
  const sources = new Map([...session.remoteLayers].map(([digest, remote]) => [digest, remote.source] as const));
  const pushed: PushResult[] = [];
  for (const tag of tags) {
    session.checkCancelled();
    pushed.push(await pushBuiltImage(store, { manifest: image.manifest, manifestBytes: image.manifestBytes, mediaType: image.descriptor.mediaType }, tag, {
      config: push.config, onTransfer: push.onTransfer, signal, sources, blobsWritten: writing, beforeManifest: () => checks, span,
      onBlobHead: (digest, size) => heads.seen(digest, size), heldManifests: session.heldManifests,
    }));
  }
  return pushed;
}

/**
 * What the push's HEADs found for each layer of the image (the first answer counts). A cached layer the target
 * repository already holds with the recorded size is proven for the pushed manifest (the registry serves those bytes
 * by digest), so its HEAD in the cache repository is not sent; absent or another size, the check asks the cache.
 * Traced in the shared-cache bench, the two extra HEADs and the registry work beside the push's own were what the
 * fresh worker paid over the warm one.
 */
class HeadResults {
  private readonly answers = new Map<string, { size: Promise<number | undefined>; resolve(size: number | undefined): void }>();

  constructor(digests: string[]) {
    for (const digest of digests) {
      let resolve: (size: number | undefined) => void = () => undefined;
      const size = new Promise<number | undefined>((done) => { resolve = done; });
      this.answers.set(digest, { size, resolve });
    }
  }

  seen(digest: string, size: number | undefined): void { this.answers.get(digest)?.resolve(size); }
  /** The push is over: layers it never asked about prove nothing. */
  done(): void { for (const answer of this.answers.values()) answer.resolve(undefined); }
  /** A digest that is not a layer of the image (an earlier stage's, a named context's) is never HEADed: undefined. */
  size(digest: string): Promise<number | undefined> { return this.answers.get(digest)?.size ?? Promise.resolve(undefined); }
}
