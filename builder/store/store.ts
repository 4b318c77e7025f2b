import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, open, readFile, rename, stat, unlink } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { BuildError } from '../errors.js';
import { parseReference, normalizeTag } from '../image/reference.js';
import { MEDIA_TYPES, type Descriptor, type Image, type ImageIndex, type ImageManifest } from '../image/types.js';
import { withFileLock } from './file-lock.js';
import { canonicalJson } from '../image/manifest.js';
import { writeFileAtomic, writeSmallFileSynced } from './atomic-write.js';
import { isIndexMediaType, loadImage, pickManifest } from './image-lookup.js';
import {
  EMPTY_INDEX, aliasOf, canonicalTagOf, plainDescriptor, readIndex, readIndexText, refNameOf, taggedEntry, writeIndex,
} from './oci-index.js';

const DIGEST = /^sha256:[0-9a-f]{64}$/;
const HEX_PREFIX = /^[0-9a-f]{4,64}$/;
const MAX_MANIFEST_SIZE = 4 * 1024 * 1024;

/** `$BUILDER_ROOT`, else /var/lib/builder for root, else ~/.local/share/builder. */
export function defaultRoot(): string {
  if (process.env.BUILDER_ROOT) return process.env.BUILDER_ROOT;
  return process.getuid?.() === 0 ? '/var/lib/builder' : join(homedir(), '.local', 'share', 'builder');
}

/** One row of `builder images`. */
export interface ImageSummary {
  name: string;
  manifest: Descriptor;
  configDigest: string;
  created?: string;
  /** Sum of the (compressed) layer blob sizes. */
  size: number;
}

/** The local store: an OCI image layout under `oci/` plus the engine's working directories. */
export class Store {
  readonly ociDir: string;
  readonly snapshotsDir: string;
  readonly cacheDir: string;
  readonly containersDir: string;
  readonly tmpDir: string;
  private readonly indexPath: string;

  private constructor(readonly root: string) {
    this.ociDir = join(root, 'oci');
    this.snapshotsDir = join(root, 'snapshots');
    this.cacheDir = join(root, 'cache');
    this.containersDir = join(root, 'containers');
    this.tmpDir = join(root, 'tmp');
    this.indexPath = join(this.ociDir, 'index.json');
  }

  /** Opens (creating when missing) the store at `root`. Safe to call from many processes at once. */
  static async open(root: string = defaultRoot()): Promise<Store> {
    const store = new Store(root);
    // Every command opens the store: direct calls (microseconds each) instead of seven thread-pool round trips.
    // A new store (a pull into an empty root) makes its directories and its two files side by side: each file is an
    // fsynced write, and one after another they held a pull's first request back by 4-13 ms under load.
    const dirs = [join(store.ociDir, 'blobs', 'sha256'), store.snapshotsDir, store.cacheDir, store.containersDir, store.tmpDir];
    await Promise.all(dirs.filter((dir) => !existsSync(dir)).map((dir) => mkdir(dir, { recursive: true })));
    const layoutPath = join(store.ociDir, 'oci-layout');
    await Promise.all([
      existsSync(layoutPath) ? undefined : writeFileAtomic(layoutPath, JSON.stringify({ imageLayoutVersion: '1.0.0' }), { overwrite: false }),
      existsSync(store.indexPath) ? undefined : writeFileAtomic(store.indexPath, JSON.stringify(EMPTY_INDEX), { overwrite: false }),
    ]);
    return store;
  }

  blobPath(digest: string): string {
    if (!DIGEST.test(digest)) throw new BuildError('INVALID_ARGUMENT', `invalid digest "${digest}": expected sha256:<64 hex digits>`);
    return join(this.ociDir, 'blobs', 'sha256', digest.slice('sha256:'.length));
  }

  async hasBlob(digest: string): Promise<boolean> {
    return exists(this.blobPath(digest));
  }

  /** Stores `data` under its sha256 digest; atomic and idempotent. */
  async writeBlob(data: Buffer | string): Promise<{ digest: string; size: number }> {
    const bytes = typeof data === 'string' ? Buffer.from(data) : data;
    const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
    if (await this.hasBlob(digest)) return { digest, size: bytes.length };
    const temp = this.tempPath('blob');
    try {
      const handle = await open(temp, 'w');
      try {
        await handle.writeFile(bytes);
        await handle.sync();
      } finally {
        await handle.close();
      }
      await this.importBlobFile(temp, digest);
    } catch (err) {
      // A blob that cannot be written or moved in (the disk full, the blob directory unwritable) leaves no temp file.
      await unlink(temp).catch(() => undefined);
      throw err;
    }
    return { digest, size: bytes.length };
  }

  /** Moves a finished temp file (whose content has `digest`, on the store's filesystem) into the blob store. */
  async importBlobFile(tmpPath: string, digest: string): Promise<void> {
    const target = this.blobPath(digest);
    if (await exists(target)) {
      await unlink(tmpPath);
      return;
    }
    await rename(tmpPath, target);
  }

  async readBlob(digest: string): Promise<Buffer> {
    try {
      return await readFile(this.blobPath(digest));
    } catch (err) {
      if (err instanceof BuildError) throw err;
      throw new BuildError('STORE_CORRUPT', `blob ${digest} is missing from the store at ${this.ociDir}`, { cause: err });
    }
  }

  /**
   * A JSON blob (manifest, index, config). Read directly, not through the thread pool: every build reads its base
   * image's manifest and config, a few KiB each, and the four round trips of an async read cost more than the read.
   */
  async readJson<T>(digest: string): Promise<T> {
    let blob: Buffer;
    try {
      blob = readFileSync(this.blobPath(digest));
    } catch (err) {
      if (err instanceof BuildError) throw err;
      throw new BuildError('STORE_CORRUPT', `blob ${digest} is missing from the store at ${this.ociDir}`, { cause: err });
    }
    try {
      return JSON.parse(blob.toString('utf8')) as T;
    } catch (err) {
      throw new BuildError('STORE_CORRUPT', `blob ${digest} is not valid JSON`, { cause: err });
    }
  }

  /** A unique path under tmpDir (not created). */
  tempPath(prefix: string): string {
    return join(this.tmpDir, `${prefix}-${process.pid}-${randomBytes(8).toString('hex')}`);
  }

  /** Points tag `name` (normalised: `app` → `app:latest`) at `manifest`, replacing an existing tag of that name. */
  async tag(name: string, manifest: Descriptor): Promise<void> {
    const wanted = [wantedTag(name, manifest)];
    if (!(await this.hasBlob(manifest.digest))) throw missingManifest(name, manifest);
    // A rebuild that changed nothing names the same manifest again: then nothing is written (no lock, no fsync).
    // Reading without the lock is safe: index.json is only ever replaced whole (rename), and a retag by another
    // process after this read is as if it came after this tag.
    if (!withTags(await readIndex(this.indexPath), wanted)) return;
    await this.updateIndex((index) => withTags(index, wanted));
  }

  /**
   * A build's tags, written ahead: the next index.json is made and fsynced (a temp file in tmp/) now, beside the
   * image's blob writes, and put in place by `commit()` once those are done and the build's checks passed. Why: on a
   * fresh store the tag's fsync came after the blobs' and ended the build (traced in the shared-cache bench: write
   * image 4.5 + tag 2.1 ms, the warm rebuild writing neither). commit() renames the prepared file only if index.json
   * is still the text it was made from (compared under the index lock, so no other tag or untag is lost); else it
   * tags as tag() does. Nothing names the manifest before commit(); a crash before it leaves the old index and a
   * temp file (GC removes stale tmp/ entries, as a blob write's). discard() drops it (a build that failed before its tag).
   */
  async prepareTags(names: string[], manifest: Descriptor): Promise<{ commit(): Promise<void>; discard(): Promise<void> }> {
    const wanted = names.map((name) => wantedTag(name, manifest));
    const base = readIndexText(this.indexPath);
    const next = withTags(base.index, wanted);
    const temp = next ? this.tempPath('index') : undefined;
    if (temp && next) await writeSmallFileSynced(temp, canonicalJson(next));
    const discard = async (): Promise<void> => { if (temp) await unlink(temp).catch(() => undefined); };
    return {
      discard,
      commit: async () => {
        if (!(await this.hasBlob(manifest.digest))) {
          await discard();
          throw missingManifest(names[0] ?? manifest.digest, manifest);
        }
        if (!temp) return;
        await withFileLock(`${this.indexPath}.lock`, async () => {
          const now = readIndexText(this.indexPath);
          if (now.text === base.text) return rename(temp, this.indexPath);
          await discard();
          const changed = withTags(now.index, wanted);
          if (changed) await writeIndex(this.indexPath, changed);
        });
      },
    };
  }

  /** Removes tag `name` (and its `latest` alias); false when it did not exist. Blobs stay. */
  async untag(name: string): Promise<boolean> {
    const tag = normalizeTag(name);
    const alias = aliasOf(tag);
    let removed = false;
    await this.updateIndex((index) => {
      const kept = index.manifests.filter((entry) => !isNamed(entry, tag, alias));
      removed = kept.length !== index.manifests.length;
      return removed ? { ...index, manifests: kept } : undefined;
    });
    return removed;
  }

  /**
   * Keeps `manifest` in index.json without a name (docker's `<none>:<none>`: an untagged commit, import or build):
   * an entry without ref.name, which GC keeps as it keeps tags, until `forgetUntagged` or a tag replaces it. A no-op
   * when any entry already names that manifest.
   */
  async keepUntagged(manifest: Descriptor): Promise<void> {
    if (!(await this.hasBlob(manifest.digest))) throw missingManifest(manifest.digest, manifest);
    if ((await readIndex(this.indexPath)).manifests.some((entry) => entry.digest === manifest.digest)) return;
    await this.updateIndex((index) => (index.manifests.some((entry) => entry.digest === manifest.digest)
      ? undefined : { ...index, manifests: [...index.manifests, plainDescriptor(manifest)] }));
  }

  /** Drops the unnamed entry of manifest `digest` (rmi of a dangling image); false when there was none. */
  async forgetUntagged(digest: string): Promise<boolean> {
    let removed = false;
    await this.updateIndex((index) => {
      const kept = index.manifests.filter((entry) => entry.digest !== digest || refNameOf(entry) !== undefined);
      removed = kept.length !== index.manifests.length;
      return removed ? { ...index, manifests: kept } : undefined;
    });
    return removed;
  }

  /** The unnamed index entries whose manifest has no tag either (docker's dangling images), in store order. */
  async listUntagged(): Promise<Descriptor[]> {
    const entries = (await readIndex(this.indexPath)).manifests;
    const tagged = new Set(entries.filter((entry) => refNameOf(entry) !== undefined).map((entry) => entry.digest));
    const seen = new Set<string>();
    return entries.filter((entry) => {
      if (refNameOf(entry) !== undefined || tagged.has(entry.digest) || seen.has(entry.digest)) return false;
      seen.add(entry.digest);
      return true;
    }).map(plainDescriptor);
  }

  /**
   * Finds an image by name, name:tag, name@digest, sha256:<manifest or config digest>, or a unique hex prefix
   * (≥ 4 chars) of a manifest or config digest. Undefined when nothing matches.
   */
  async resolve(ref: string): Promise<Image | undefined> {
    const entries = (await readIndex(this.indexPath)).manifests;
    if (DIGEST.test(ref)) return this.resolveDigest(ref, entries);
    let parsed: ReturnType<typeof parseReference> | undefined;
    try {
      parsed = parseReference(ref);
    } catch (err) {
      if (!HEX_PREFIX.test(ref)) throw err;
    }
    if (parsed?.digest !== undefined) return this.resolveDigest(parsed.digest, entries);
    if (parsed) {
      const tag = normalizeTag(ref);
      const entry = entries.find((e) => isNamed(e, tag, aliasOf(tag)));
      if (entry) return loadImage(this, plainDescriptor(entry));
    }
    if (HEX_PREFIX.test(ref)) return this.resolvePrefix(ref, entries);
    return undefined;
  }

  /**
   * Whether `ref` names an image by tag (what `resolve` tries before digest prefixes): `save` names an image in
   * its archive only then. A digest, an image id or an id prefix (`4d4dea8e59cc` also parses as a name) is no tag.
   */
  async hasTag(ref: string): Promise<boolean> {
    if (DIGEST.test(ref)) return false;
    let tag: string;
    try {
      if (parseReference(ref).digest !== undefined) return false;
      tag = normalizeTag(ref);
    } catch {
      return false;
    }
    return (await readIndex(this.indexPath)).manifests.some((e) => isNamed(e, tag, aliasOf(tag)));
  }

  /** Every tag, once each (the `latest` alias pair counts as one). */
  async listImages(): Promise<ImageSummary[]> {
    const seen = new Set<string>();
    const summaries: ImageSummary[] = [];
    for (const entry of (await readIndex(this.indexPath)).manifests) {
      const refName = refNameOf(entry);
      if (refName === undefined) continue;
      const name = canonicalTagOf(refName);
      if (seen.has(name)) continue;
      seen.add(name);
      const image = await loadImage(this, plainDescriptor(entry));
      const summary: ImageSummary = {
        name,
        manifest: plainDescriptor(entry),
        configDigest: image.manifest.config.digest,
        size: image.layers.reduce((sum, layer) => sum + layer.size, 0),
      };
      if (image.config.created) summary.created = image.config.created;
      summaries.push(summary);
    }
    return summaries;
  }

  private async updateIndex(change: (index: ImageIndex) => ImageIndex | undefined): Promise<void> {
    await withFileLock(`${this.indexPath}.lock`, async () => {
      const next = change(await readIndex(this.indexPath));
      if (next) await writeIndex(this.indexPath, next);
    });
  }

  private async resolveDigest(digest: string, entries: Descriptor[]): Promise<Image | undefined> {
    const byManifest = entries.find((e) => e.digest === digest);
    if (byManifest) return loadImage(this, plainDescriptor(byManifest));
    const byConfig = (await this.candidates(entries)).find((c) => c.configDigest === digest);
    if (byConfig) return loadImage(this, byConfig.descriptor);
    if (!DIGEST.test(digest) || !(await this.hasBlob(digest))) return undefined;
    // An untagged manifest that is still in the blob store.
    // Only small blobs can be manifests; do not read a layer into memory to find out.
    if ((await stat(this.blobPath(digest))).size > MAX_MANIFEST_SIZE) return undefined;
    const blob = await this.readBlob(digest);
    let document: Partial<ImageManifest> & { manifests?: unknown };
    try {
      document = JSON.parse(blob.toString('utf8')) as typeof document;
    } catch {
      return undefined; // a layer, not a manifest
    }
    if (document.manifests === undefined && document.config === undefined) return undefined;
    const mediaType = document.mediaType ?? (document.manifests ? MEDIA_TYPES.ociIndex : MEDIA_TYPES.ociManifest);
    return loadImage(this, { mediaType, digest, size: blob.length });
  }

  private async resolvePrefix(prefix: string, entries: Descriptor[]): Promise<Image | undefined> {
    const matches = new Map<string, Descriptor>();
    for (const candidate of await this.candidates(entries)) {
      const hexes = [candidate.descriptor.digest, candidate.configDigest].map((d) => d.slice('sha256:'.length));
      if (hexes.some((hex) => hex.startsWith(prefix))) matches.set(candidate.descriptor.digest, candidate.descriptor);
    }
    if (matches.size > 1) {
      throw new BuildError('INVALID_REFERENCE', `image id prefix "${prefix}" is ambiguous: it matches ${matches.size} images; type more digits`);
    }
    const [only] = matches.values();
    return only ? loadImage(this, only) : undefined;
  }

  /** Index entries with the config digest each one leads to (following an index to its chosen manifest). */
  private async candidates(entries: Descriptor[]): Promise<{ descriptor: Descriptor; configDigest: string }[]> {
    const result: { descriptor: Descriptor; configDigest: string }[] = [];
    const seen = new Set<string>();
    for (const entry of entries) {
      if (seen.has(entry.digest)) continue;
      seen.add(entry.digest);
      let descriptor = plainDescriptor(entry);
      if (isIndexMediaType(descriptor.mediaType)) {
        descriptor = pickManifest(await this.readJson(descriptor.digest), `image index ${descriptor.digest}`);
      }
      const manifest = await this.readJson<ImageManifest>(descriptor.digest);
      result.push({ descriptor, configDigest: manifest.config.digest });
    }
    return result;
  }
}

function isNamed(entry: Descriptor, tag: string, alias: string | undefined): boolean {
  const refName = refNameOf(entry);
  return refName !== undefined && (refName === tag || refName === alias);
}

/** What tag `name` of `manifest` puts in index.json: the entry, and the `latest` alias's when there is one. */
function wantedTag(name: string, manifest: Descriptor): { tag: string; alias: string | undefined; entries: Descriptor[] } {
  const ref = parseReference(name);
  if (ref.digest !== undefined) throw new BuildError('INVALID_REFERENCE', `cannot tag "${name}": a tag cannot contain a digest`);
  const tag = normalizeTag(name);
  const alias = aliasOf(tag);
  return { tag, alias, entries: [taggedEntry(plainDescriptor(manifest), tag), ...(alias ? [taggedEntry(plainDescriptor(manifest), alias)] : [])] };
}

function missingManifest(name: string, manifest: Descriptor): BuildError {
  return new BuildError('IMAGE_NOT_FOUND', `cannot tag "${name}": manifest ${manifest.digest} is not in the store`);
}

/** `index` with every wanted tag naming its manifest; undefined when each already does (nothing to write). */
function withTags(index: ImageIndex, wanted: ReturnType<typeof wantedTag>[]): ImageIndex | undefined {
  // Two names of one tag (`app`, `app:latest`) are one tag.
  const unique = [...new Map(wanted.map((w) => [w.tag, w] as const)).values()];
  const missing = unique.filter(({ tag, alias, entries }) => !alreadyTagged(index, tag, alias, entries));
  if (missing.length === 0) return undefined;
  // A tag also ends the manifest's unnamed entry (keepUntagged): a tagged image is no longer dangling.
  const digests = new Set(missing.map(({ entries }) => entries[0]!.digest));
  const kept = index.manifests.filter((entry) => !missing.some(({ tag, alias }) => isNamed(entry, tag, alias))
    && !(refNameOf(entry) === undefined && digests.has(entry.digest)));
  return { ...index, manifests: [...kept, ...missing.flatMap(({ entries }) => entries)] };
}

/** Whether the entries named `tag` (and its alias) are exactly `wanted`. */
function alreadyTagged(index: ImageIndex, tag: string, alias: string | undefined, wanted: Descriptor[]): boolean {
  const named = index.manifests.filter((entry) => isNamed(entry, tag, alias)).map((entry) => canonicalJson(entry));
  return named.length === wanted.length && wanted.every((entry) => named.includes(canonicalJson(entry)));
}

/** Direct (no thread pool): blob checks are on every build's path, a no-op rebuild's included. */
async function exists(path: string): Promise<boolean> {
  return existsSync(path);
}
