import { createReadStream, createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { dirname, basename, join } from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';
import { BuildError } from '../errors.js';
import { buildManifest, canonicalJson } from '../image/manifest.js';
import { formatOfManifest } from '../image/media-types.js';
import { familiarRepository, fullName, normalizeTag, parseReference } from '../image/reference.js';
import { MEDIA_TYPES, REF_NAME_ANNOTATION, type Descriptor, type Image, type ImageIndex } from '../image/types.js';
import { CONTAINERD_NAME_ANNOTATION } from './archive-load.js';
import type { Store } from './store.js';

const hexOf = (digest: string): string => digest.slice('sha256:'.length);

/** An image to save with the tags it is saved under (none when it was named by id). */
interface SaveItem {
  image: Image;
  tags: string[];
}

async function collect(store: Store, names: string[]): Promise<SaveItem[]> {
  if (names.length === 0) throw new BuildError('INVALID_ARGUMENT', 'save: name at least one image to save');
  const byManifest = new Map<string, SaveItem>();
  for (const name of names) {
    const image = await store.resolve(name);
    if (!image) throw new BuildError('IMAGE_NOT_FOUND', `save: no such image: ${name}`);
    const item = byManifest.get(image.manifestDescriptor.digest) ?? { image, tags: [] };
    byManifest.set(image.manifestDescriptor.digest, item);
    // Named by digest or id (`--output type=oci` of an untagged build passes its digest): no name in the
    // archive, as docker save and BuildKit write it; "sha256:<hex>" would otherwise read as repository:tag.
    const tag = (await store.hasTag(name)) ? normalizeTag(name) : undefined;
    if (tag && !item.tags.includes(tag)) item.tags.push(tag);
  }
  return [...byManifest.values()];
}

/** Writes entries one at a time into a tar pack, streaming files. */
class TarWriter {
  readonly pack = tar.pack();
  private readonly written = new Set<string>();

  async bytes(name: string, content: string | Buffer): Promise<void> {
    const data = typeof content === 'string' ? Buffer.from(content) : content;
    await new Promise<void>((resolve, reject) => {
      this.pack.entry({ name, size: data.length, mode: 0o644, mtime: new Date(0) }, data, (err) => (err ? reject(err) : resolve()));
    });
  }

  /** Adds a file once per archive path (blobs shared between images are written once). */
  async file(name: string, path: string, size: number): Promise<void> {
    if (this.written.has(name)) return;
    this.written.add(name);
    await new Promise<void>((resolve, reject) => {
      const entry = this.pack.entry({ name, size, mode: 0o644, mtime: new Date(0) }, (err) => (err ? reject(err) : resolve()));
      const source = createReadStream(path);
      source.on('error', reject);
      source.pipe(entry as unknown as NodeJS.WritableStream);
    });
  }
}

/**
 * The manifest an OCI archive names for `image`: its own, or for a Docker v2s2 image (one pulled that way)
 * an OCI twin with the same config and layer blobs, as `skopeo copy … oci:` makes it, so that OCI-only
 * tools (umoci) can unpack every image of the archive. Written into the archive when it is new.
 */
async function ociManifestFor(image: Image, out: TarWriter, convert: boolean): Promise<Descriptor> {
  const own: Descriptor = { mediaType: image.manifestDescriptor.mediaType, digest: image.manifestDescriptor.digest, size: image.manifestDescriptor.size };
  if (!convert || formatOfManifest(image.manifest.mediaType ?? own.mediaType) === 'oci') return own;
  const bytes = Buffer.from(canonicalJson(buildManifest(image.manifest.config, image.layers, undefined, 'oci')));
  const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
  await out.bytes(`blobs/sha256/${hexOf(digest)}`, bytes);
  return { mediaType: MEDIA_TYPES.ociManifest, digest, size: bytes.length };
}

async function writeOci(store: Store, items: SaveItem[], out: TarWriter, convert: boolean): Promise<void> {
  await out.bytes('oci-layout', JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  const index: ImageIndex = { schemaVersion: 2, mediaType: MEDIA_TYPES.ociIndex, manifests: [] };
  const dockerManifest: { Config: string; RepoTags: string[]; Layers: string[] }[] = [];
  // moby's save (≥ 25) writes the legacy `repositories` beside the OCI layout: repo → tag → top layer's blob hex.
  const repositories: Record<string, Record<string, string>> = {};
  for (const { image, tags } of items) {
    const top = image.manifest.layers.at(-1);
    for (const tag of tags) {
      const ref = parseReference(tag);
      if (top && ref.tag) (repositories[familiarRepository(ref)] ??= {})[ref.tag] = hexOf(top.digest);
    }
    const blobs: Descriptor[] = [...image.manifest.layers, image.manifest.config];
    for (const blob of blobs) await out.file(`blobs/sha256/${hexOf(blob.digest)}`, store.blobPath(blob.digest), blob.size);
    const entry = await ociManifestFor(image, out, convert);
    if (entry.digest === image.manifestDescriptor.digest) {
      await out.file(`blobs/sha256/${hexOf(entry.digest)}`, store.blobPath(entry.digest), entry.size);
    }
    if (image.manifestDescriptor.platform) entry.platform = image.manifestDescriptor.platform;
    if (tags.length === 0) index.manifests.push(entry);
    for (const tag of tags) {
      index.manifests.push({ ...entry, annotations: { [REF_NAME_ANNOTATION]: tag, [CONTAINERD_NAME_ANNOTATION]: fullName(parseReference(tag)) } });
    }
    // docker 20.10 only reads manifest.json; its Layers may be gzip blobs.
    dockerManifest.push({
      Config: `blobs/sha256/${hexOf(image.manifest.config.digest)}`,
      RepoTags: tags,
      Layers: image.manifest.layers.map((l) => `blobs/sha256/${hexOf(l.digest)}`),
    });
  }
  await out.bytes('index.json', canonicalJson(index));
  await out.bytes('manifest.json', canonicalJson(dockerManifest));
  if (Object.keys(repositories).length > 0) await out.bytes('repositories', canonicalJson(repositories));
}

async function writeDocker(store: Store, items: SaveItem[], out: TarWriter): Promise<void> {
  const dockerManifest: { Config: string; RepoTags: string[] | null; Layers: string[] }[] = [];
  const repositories: Record<string, Record<string, string>> = {};
  for (const { image, tags } of items) {
    const configName = `${hexOf(image.manifest.config.digest)}.json`;
    await out.file(configName, store.blobPath(image.manifest.config.digest), image.manifest.config.size);
    const layerNames: string[] = [];
    for (const layer of image.manifest.layers) {
      const name = `${hexOf(layer.digest)}/layer.tar`;
      await out.file(name, store.blobPath(layer.digest), layer.size);
      layerNames.push(name);
    }
    dockerManifest.push({ Config: configName, RepoTags: tags.length > 0 ? tags : null, Layers: layerNames });
    const top = layerNames.at(-1)?.split('/')[0];
    for (const tag of tags) {
      const ref = parseReference(tag);
      if (top && ref.tag) (repositories[familiarRepository(ref)] ??= {})[ref.tag] = top;
    }
  }
  await out.bytes('manifest.json', canonicalJson(dockerManifest));
  await out.bytes('repositories', canonicalJson(repositories));
}

/**
 * `builder save`: an OCI archive (OCI layout whose index.json names the given tags, plus docker's manifest.json so
 * `docker load` takes it) or a docker-archive. Written to a temp name beside `outFile`, then renamed.
 */
/**
 * `convertToOci` (what `builder save` asks for) gives Docker v2s2 images an OCI twin manifest in an OCI archive;
 * `--output type=oci` keeps the build's own manifest, whose format the build chose (`oci-mediatypes`).
 */
export async function saveImages(store: Store, names: string[], outFile: string, format: 'oci' | 'docker', convertToOci = false): Promise<void> {
  const items = await collect(store, names);
  const temp = join(dirname(outFile), `.${basename(outFile)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
  const out = new TarWriter();
  const writing = pipeline(out.pack as unknown as NodeJS.ReadableStream, createWriteStream(temp));
  try {
    await (format === 'oci' ? writeOci(store, items, out, convertToOci) : writeDocker(store, items, out));
    out.pack.finalize();
    await writing;
    await rename(temp, outFile);
  } catch (err) {
    out.pack.destroy();
    await writing.catch(() => undefined);
    await rm(temp, { force: true });
    if (err instanceof BuildError) throw err;
    throw new BuildError('INTERNAL', `save: writing ${outFile} failed: ${(err as Error).message}`, { cause: err });
  }
}
