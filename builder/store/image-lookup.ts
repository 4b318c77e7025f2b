import { BuildError } from '../errors.js';
import { MEDIA_TYPES, type Descriptor, type Image, type ImageConfig, type ImageIndex, type ImageManifest } from '../image/types.js';

/** What image loading needs from a store. */
export interface BlobReader {
  readJson<T>(digest: string): Promise<T>;
}

const INDEX_TYPES: ReadonlySet<string> = new Set([MEDIA_TYPES.ociIndex, MEDIA_TYPES.dockerManifestList]);

export function isIndexMediaType(mediaType: string | undefined): boolean {
  return mediaType !== undefined && INDEX_TYPES.has(mediaType);
}

const HOST_ARCH: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ppc64: 'ppc64le', s390x: 's390x' };

/** This machine's architecture by Go's name (GOARCH), as image configs and the Engine API spell it. */
export function hostGoArch(): string {
  return HOST_ARCH[process.arch] ?? process.arch;
}

/** Picks the manifest to use from an index: linux/<host arch>, then linux/amd64, then the only one. */
export function pickManifest(index: ImageIndex, where: string): Descriptor {
  const manifests = index.manifests.filter((m) => !isIndexMediaType(m.mediaType) || index.manifests.length === 1);
  const onLinux = (arch: string) => manifests.find((m) => m.platform?.os === 'linux' && m.platform.architecture === arch);
  const chosen = onLinux(HOST_ARCH[process.arch] ?? process.arch) ?? onLinux('amd64') ?? (manifests.length === 1 ? manifests[0] : undefined);
  if (!chosen) {
    const platforms = index.manifests.map((m) => (m.platform ? `${m.platform.os}/${m.platform.architecture}` : 'unknown')).join(', ');
    throw new BuildError('IMAGE_NOT_FOUND', `${where} has no linux/amd64 image (platforms: ${platforms || 'none'})`);
  }
  return chosen;
}

/** Loads manifest (following an index down to one platform), config and layers of `descriptor`. */
export async function loadImage(store: BlobReader, descriptor: Descriptor, depth = 0): Promise<Image> {
  const document = await store.readJson<ImageManifest | ImageIndex>(descriptor.digest);
  if ('manifests' in document && Array.isArray(document.manifests)) {
    if (depth > 2) throw new BuildError('STORE_CORRUPT', `image index ${descriptor.digest} nests too deeply`);
    return loadImage(store, pickManifest(document, `image index ${descriptor.digest}`), depth + 1);
  }
  const manifest = document as ImageManifest;
  if (!manifest.config || !Array.isArray(manifest.layers)) {
    throw new BuildError('STORE_CORRUPT', `blob ${descriptor.digest} is not an image manifest`);
  }
  const config = await store.readJson<ImageConfig>(manifest.config.digest);
  const diffIds = config.rootfs?.diff_ids ?? [];
  if (diffIds.length !== manifest.layers.length) {
    throw new BuildError(
      'STORE_CORRUPT',
      `image ${descriptor.digest}: manifest has ${manifest.layers.length} layers but config lists ${diffIds.length} diff_ids`,
    );
  }
  const manifestDescriptor: Descriptor = {
    mediaType: manifest.mediaType ?? descriptor.mediaType,
    digest: descriptor.digest,
    size: descriptor.size,
  };
  manifestDescriptor.platform = descriptor.platform ?? { architecture: config.architecture, os: config.os };
  return {
    manifestDescriptor,
    manifest,
    config,
    layers: manifest.layers.map((layer, i) => ({
      digest: layer.digest,
      diffId: diffIds[i]!,
      size: layer.size,
      mediaType: layer.mediaType,
    })),
  };
}
