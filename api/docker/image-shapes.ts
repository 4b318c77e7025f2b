/** Our images in the Engine API's shapes: ImageSummary (`/images/json`), ImageInspect, HistoryResponseItem. */
import type { Image } from '../../builder/image/types.js';
import type { Store } from '../../builder/store/store.js';

/** The tags of each manifest digest, in store order; dangling (untagged) images last, with no tags. */
export async function tagsByManifest(store: Store): Promise<Map<string, string[]>> {
  const byManifest = new Map<string, string[]>();
  for (const summary of await store.listImages()) {
    const tags = byManifest.get(summary.manifest.digest) ?? [];
    tags.push(summary.name);
    byManifest.set(summary.manifest.digest, tags);
  }
  for (const descriptor of await store.listUntagged()) byManifest.set(descriptor.digest, []);
  return byManifest;
}

/** `app:1` → `app`; `localhost:5000/app:1` → `localhost:5000/app`. */
export function repositoryOf(tag: string): string {
  const colon = tag.lastIndexOf(':');
  return colon > tag.lastIndexOf('/') ? tag.slice(0, colon) : tag;
}

/**
 * `repo@<manifest digest>` per repository. The store keeps the exact manifest bytes it pulled, built or will push,
 * so that digest is the one a registry knows the image by.
 */
export function repoDigests(tags: string[], manifestDigest: string): string[] {
  return [...new Set(tags.map((tag) => `${repositoryOf(tag)}@${manifestDigest}`))];
}

const unixSeconds = (created: string | undefined): number => (created ? Math.floor(Date.parse(created) / 1000) || 0 : 0);
const imageSize = (image: Image): number => image.layers.reduce((sum, layer) => sum + layer.size, 0);

export function imageSummary(image: Image, tags: string[]): Record<string, unknown> {
  return {
    Id: image.manifest.config.digest,
    ParentId: '',
    RepoTags: tags,
    RepoDigests: repoDigests(tags, image.manifestDescriptor.digest),
    Created: unixSeconds(image.config.created),
    Size: imageSize(image),
    SharedSize: -1,
    VirtualSize: imageSize(image),
    Labels: image.config.config.Labels ?? {},
    Containers: -1,
  };
}

/** docker's container Config as images carry it: every field present, as `docker inspect -f` templates expect. */
function containerConfig(image: Image): Record<string, unknown> {
  const c = image.config.config;
  return {
    Hostname: '', Domainname: '', User: c.User ?? '', AttachStdin: false, AttachStdout: false, AttachStderr: false,
    ExposedPorts: c.ExposedPorts, Tty: false, OpenStdin: false, StdinOnce: false, Env: c.Env ?? null, Cmd: c.Cmd ?? null,
    Healthcheck: c.Healthcheck, ArgsEscaped: c.ArgsEscaped, Image: '', Volumes: c.Volumes ?? null, WorkingDir: c.WorkingDir ?? '',
    Entrypoint: c.Entrypoint ?? null, OnBuild: c.OnBuild ?? null, Labels: c.Labels ?? null, StopSignal: c.StopSignal, Shell: c.Shell,
  };
}

export function imageInspect(image: Image, tags: string[]): Record<string, unknown> {
  return {
    Id: image.manifest.config.digest,
    RepoTags: tags,
    RepoDigests: repoDigests(tags, image.manifestDescriptor.digest),
    Parent: '',
    // dockerd shows the newest history entry's comment ("buildkit.dockerfile.v0", a commit's message).
    Comment: image.config.history?.at(-1)?.comment ?? '',
    Created: image.config.created ?? '0001-01-01T00:00:00Z',
    DockerVersion: '',
    Author: image.config.author ?? '',
    Config: containerConfig(image),
    Architecture: image.config.architecture,
    Variant: image.config.variant,
    Os: image.config.os,
    Size: imageSize(image),
    VirtualSize: imageSize(image),
    GraphDriver: { Name: 'overlay', Data: null },
    RootFS: { Type: 'layers', Layers: image.config.rootfs.diff_ids },
    Metadata: { LastTagTime: '0001-01-01T00:00:00Z' },
    Descriptor: { mediaType: image.manifestDescriptor.mediaType, digest: image.manifestDescriptor.digest, size: image.manifestDescriptor.size },
  };
}

/** Newest first; only the top entry has the image id, older ones are `<missing>` as with a pulled image in docker. */
export function imageHistory(image: Image, tags: string[]): Record<string, unknown>[] {
  const history = image.config.history ?? [];
  let layer = 0;
  const rows = history.map((entry) => {
    const size = entry.empty_layer ? 0 : (image.layers[layer++]?.size ?? 0);
    return { Id: '<missing>', Created: unixSeconds(entry.created), CreatedBy: entry.created_by ?? '', Tags: null as string[] | null, Size: size, Comment: entry.comment ?? '' };
  });
  rows.reverse();
  if (rows[0]) Object.assign(rows[0], { Id: image.manifest.config.digest, Tags: tags.length > 0 ? tags : null });
  return rows;
}

