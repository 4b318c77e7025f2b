import { mkdir, readFile, rm } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { BuildError } from '../errors.js';
import { buildManifest, canonicalJson, platformOf } from '../image/manifest.js';
import { normalizeTag } from '../image/reference.js';
import {
  MEDIA_TYPES, REF_NAME_ANNOTATION, type Descriptor, type ImageConfig, type ImageIndex, type ImageManifest, type Layer,
} from '../image/types.js';
import { isIndexMediaType, pickManifest } from './image-lookup.js';
import { gunzipDigest, gzipLayer } from './layer-blob.js';
import type { Store } from './store.js';
import { extractArchive, isGzipFile, type ExtractedFile } from './tar-extract.js';

/** Annotation containerd and docker ≥ 25 use for the full image name in an OCI archive. */
export const CONTAINERD_NAME_ANNOTATION = 'io.containerd.image.name';
const MAX_JSON_SIZE = 16 * 1024 * 1024;
const DOCKER_LAYER_TAR = 'application/vnd.docker.image.rootfs.diff.tar';
const UNCOMPRESSED_TYPES: ReadonlySet<string> = new Set([MEDIA_TYPES.ociLayer, DOCKER_LAYER_TAR]);
const GZIP_TYPES: ReadonlySet<string> = new Set([MEDIA_TYPES.ociLayerGzip, MEDIA_TYPES.dockerLayerGzip]);

/** One entry of the manifest.json that `docker save` writes. */
interface DockerManifestItem {
  Config: string;
  RepoTags?: string[] | null;
  Layers: string[];
}

function invalid(message: string, cause?: unknown): BuildError {
  return new BuildError('ARCHIVE_INVALID', `load: ${message}`, cause === undefined ? {} : { cause });
}

/** Everything a load will write, collected before anything touches the store. */
class LoadPlan {
  readonly blobFiles = new Map<string, string>();
  readonly jsonBlobs: string[] = [];
  readonly images: { descriptor: Descriptor; configDigest: string; names: Set<string> }[] = [];
}

/** Reads one extracted archive and turns its images into OCI blobs in a LoadPlan. */
class ArchiveReader {
  readonly plan = new LoadPlan();
  private gzipCount = 0;

  constructor(private readonly files: Map<string, ExtractedFile>, private readonly workDir: string) {}

  has(path: string): boolean {
    return this.files.has(path);
  }

  file(path: string, what: string): ExtractedFile {
    const file = this.files.get(path);
    if (!file) throw invalid(`${what} "${path}" is missing from the archive`);
    return file;
  }

  async json<T>(file: ExtractedFile, what: string): Promise<T> {
    if (file.size > MAX_JSON_SIZE) throw invalid(`${what} is too large (${file.size} bytes) to be JSON metadata`);
    try {
      return JSON.parse(await readFile(file.file, 'utf8')) as T;
    } catch (err) {
      throw invalid(`${what} is not valid JSON: ${(err as Error).message}`, err);
    }
  }

  /** The archive's blob for `digest`, checked against its content. */
  blob(digest: string, what: string): ExtractedFile {
    const match = /^sha256:([0-9a-f]{64})$/.exec(digest ?? '');
    if (!match) throw invalid(`${what} has unsupported digest "${digest}" (only sha256 is supported)`);
    const file = this.file(`blobs/sha256/${match[1]}`, what);
    if (file.digest !== digest) throw invalid(`${what} blob ${digest} is corrupt: its content has digest ${file.digest}`);
    return file;
  }

  /** Verifies a layer against its diffId and returns it as an OCI gzip layer (gzipping an uncompressed tar). */
  async layer(file: ExtractedFile, mediaType: string | undefined, diffId: string | undefined, what: string): Promise<Layer> {
    if (diffId === undefined) throw invalid(`${what}: the image config lists fewer diff_ids than there are layers`);
    if (mediaType && !GZIP_TYPES.has(mediaType) && !UNCOMPRESSED_TYPES.has(mediaType)) {
      throw invalid(`${what} has unsupported media type ${mediaType}`);
    }
    if (await isGzipFile(file.file)) {
      const actual = await gunzipDigest(file.file).catch((err: unknown) => {
        throw invalid(`${what} is not a valid gzip stream: ${(err as Error).message}`, err);
      });
      if (actual !== diffId) throw invalid(`${what} has diffId ${actual} but the image config says ${diffId}`);
      this.plan.blobFiles.set(file.digest, file.file);
      return { digest: file.digest, diffId, size: file.size, mediaType: MEDIA_TYPES.ociLayerGzip };
    }
    if (file.digest !== diffId) throw invalid(`${what} has diffId ${file.digest} but the image config says ${diffId}`);
    const gzFile = `${this.workDir}/gz-${this.gzipCount++}`;
    const gz = await gzipLayer(file.file, gzFile);
    this.plan.blobFiles.set(gz.digest, gzFile);
    return { digest: gz.digest, diffId, size: gz.size, mediaType: MEDIA_TYPES.ociLayerGzip };
  }

  /** Plans an OCI manifest for a config file and layer files, keeping `original` when nothing had to change. */
  async image(
    configFile: ExtractedFile,
    layerFiles: { file: ExtractedFile; mediaType?: string }[],
    what: string,
    original?: { digest: string; file: ExtractedFile; manifest: ImageManifest },
  ): Promise<{ descriptor: Descriptor; config: ImageConfig }> {
    const config = await this.json<ImageConfig>(configFile, `${what} config`);
    const diffIds = config.rootfs?.diff_ids;
    if (!Array.isArray(diffIds)) throw invalid(`${what} config has no rootfs.diff_ids`);
    if (diffIds.length !== layerFiles.length) {
      throw invalid(`${what} has ${layerFiles.length} layers but its config lists ${diffIds.length} diff_ids`);
    }
    const layers: Layer[] = [];
    for (const [i, layer] of layerFiles.entries()) {
      layers.push(await this.layer(layer.file, layer.mediaType, diffIds[i], `${what} layer ${i + 1}`));
    }
    this.plan.blobFiles.set(configFile.digest, configFile.file);
    const platform = platformOf(config);
    const unchanged =
      original &&
      (original.manifest.mediaType ?? MEDIA_TYPES.ociManifest) === MEDIA_TYPES.ociManifest &&
      original.manifest.config.mediaType === MEDIA_TYPES.ociConfig &&
      original.manifest.layers.every((l, i) => l.mediaType === layers[i]!.mediaType && l.digest === layers[i]!.digest);
    if (unchanged) {
      this.plan.blobFiles.set(original.digest, original.file.file);
      return { descriptor: { mediaType: MEDIA_TYPES.ociManifest, digest: original.digest, size: original.file.size, platform }, config };
    }
    const manifest = buildManifest({ mediaType: MEDIA_TYPES.ociConfig, digest: configFile.digest, size: configFile.size }, layers, original?.manifest.annotations);
    const bytes = canonicalJson(manifest);
    this.plan.jsonBlobs.push(bytes);
    const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
    return { descriptor: { mediaType: MEDIA_TYPES.ociManifest, digest, size: Buffer.byteLength(bytes), platform }, config };
  }

  /** Plans the image an OCI index entry points at (following nested indexes to one platform). */
  async ociEntry(entry: Descriptor, what: string, depth = 0): Promise<{ descriptor: Descriptor; configDigest: string }> {
    const file = this.blob(entry.digest, what);
    const document = await this.json<ImageManifest & Partial<ImageIndex>>(file, what);
    if (isIndexMediaType(entry.mediaType) || Array.isArray(document.manifests)) {
      if (depth > 2) throw invalid(`${what}: image indexes nest too deeply`);
      const present = (document.manifests ?? []).filter((m) => this.has(`blobs/sha256/${m.digest.replace(/^sha256:/, '')}`));
      if (present.length === 0) throw invalid(`${what}: none of the index's manifests are in the archive`);
      const chosen = (() => {
        try {
          return pickManifest({ schemaVersion: 2, manifests: present }, what);
        } catch (err) {
          throw invalid((err as Error).message, err);
        }
      })();
      return this.ociEntry(chosen, `${what} → ${chosen.digest}`, depth + 1);
    }
    if (!document.config || !Array.isArray(document.layers)) throw invalid(`${what} is neither an image manifest nor an index`);
    const configFile = this.blob(document.config.digest, `${what} config`);
    const layerFiles = document.layers.map((l, i) => ({ file: this.blob(l.digest, `${what} layer ${i + 1}`), mediaType: l.mediaType }));
    const { descriptor } = await this.image(configFile, layerFiles, what, { digest: entry.digest, file, manifest: document });
    return { descriptor, configDigest: configFile.digest };
  }
}

function tagName(name: string, where: string): string {
  try {
    return normalizeTag(name);
  } catch (err) {
    throw invalid(`image name "${name}" in ${where} is not a valid reference`, err);
  }
}

async function readDockerManifest(reader: ArchiveReader): Promise<DockerManifestItem[] | undefined> {
  if (!reader.has('manifest.json')) return undefined;
  const items = await reader.json<DockerManifestItem[]>(reader.file('manifest.json', 'manifest.json'), 'manifest.json');
  if (!Array.isArray(items) || items.some((i) => typeof i?.Config !== 'string' || !Array.isArray(i.Layers))) {
    throw invalid('manifest.json is not a list of {Config, RepoTags, Layers}');
  }
  return items;
}

/** docker-archive: manifest.json + config files + layer tars (plain or gzip). */
async function planDockerArchive(reader: ArchiveReader, items: DockerManifestItem[]): Promise<void> {
  for (const [n, item] of items.entries()) {
    const what = `image ${n + 1} of manifest.json`;
    const configFile = reader.file(item.Config, `${what} config`);
    const namedHex = /([0-9a-f]{64})(\.json)?$/.exec(item.Config)?.[1];
    if (namedHex && configFile.digest !== `sha256:${namedHex}`) {
      throw invalid(`${what} config ${item.Config} is corrupt: its content has digest ${configFile.digest}`);
    }
    const layerFiles = item.Layers.map((path, i) => ({ file: reader.file(path, `${what} layer ${i + 1}`) }));
    const { descriptor } = await reader.image(configFile, layerFiles, what);
    reader.plan.images.push({ descriptor, configDigest: configFile.digest, names: new Set((item.RepoTags ?? []).map((t) => tagName(t, 'manifest.json'))) });
  }
}

/** OCI archive: index.json (+ manifest.json names from docker ≥ 25, which writes both). */
async function planOciArchive(reader: ArchiveReader, dockerItems: DockerManifestItem[] | undefined): Promise<void> {
  const index = await reader.json<ImageIndex>(reader.file('index.json', 'index'), 'index.json');
  if (!Array.isArray(index.manifests)) throw invalid('index.json has no "manifests" list');
  for (const [n, entry] of index.manifests.entries()) {
    const { descriptor, configDigest } = await reader.ociEntry(entry, `index.json entry ${n + 1} (${entry.digest})`);
    const names = new Set<string>();
    const fullName = entry.annotations?.[CONTAINERD_NAME_ANNOTATION];
    const refName = entry.annotations?.[REF_NAME_ANNOTATION];
    if (fullName) names.add(tagName(fullName, 'index.json'));
    const dockerTags = (dockerItems ?? []).filter((i) => i.Config.endsWith(configDigest.slice('sha256:'.length))).flatMap((i) => i.RepoTags ?? []);
    for (const tag of dockerTags) names.add(tagName(tag, 'manifest.json'));
    // A bare ref.name like "latest" is only a tag (docker ≥ 25 writes that); use it as a name only when nothing better exists.
    if (refName && (refName.includes(':') || refName.includes('/') || names.size === 0)) names.add(tagName(refName, 'index.json'));
    reader.plan.images.push({ descriptor, configDigest, names });
  }
}

/**
 * `builder load`: imports a docker-archive (docker save), an OCI archive, or a gzip of either. Everything is
 * verified before the store changes; blobs go in atomically, tags last. Returns the tags applied, or for an
 * unnamed image its id (the config digest: docker's "Loaded image ID: sha256:…").
 */
export async function loadImages(store: Store, archivePath: string): Promise<string[]> {
  const workDir = store.tempPath('load');
  await mkdir(workDir, { recursive: true });
  try {
    const files = await extractArchive(archivePath, workDir).catch((err: unknown) => {
      if (err instanceof BuildError) throw err;
      throw invalid(`cannot read ${archivePath}: ${(err as Error).message}`, err);
    });
    const reader = new ArchiveReader(files, workDir);
    const dockerItems = await readDockerManifest(reader);
    if (reader.has('index.json')) await planOciArchive(reader, dockerItems);
    else if (dockerItems) await planDockerArchive(reader, dockerItems);
    else throw invalid(`${archivePath} has neither manifest.json (docker-archive) nor index.json (OCI archive)`);
    const { plan } = reader;
    if (plan.images.length === 0) throw invalid(`${archivePath} contains no images`);
    for (const [digest, file] of plan.blobFiles) await store.importBlobFile(file, digest);
    for (const bytes of plan.jsonBlobs) await store.writeBlob(bytes);
    const loaded: string[] = [];
    for (const image of plan.images) {
      for (const name of image.names) await store.tag(name, image.descriptor);
      // An unnamed image (`docker save <id>`, an untagged `--output type=oci`) stays as docker's <none>:<none>,
      // usable by its id; before, only its blobs went in and nothing could name it but GC.
      if (image.names.size === 0) await store.keepUntagged(image.descriptor);
      loaded.push(...(image.names.size > 0 ? image.names : [image.configDigest]));
    }
    return [...new Set(loaded)];
  } finally {
    await rm(workDir, { recursive: true, force: true });
  }
}
