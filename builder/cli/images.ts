import { BuildError } from '../errors.js';
import { normalizeTag } from '../image/reference.js';
import type { Image } from '../image/types.js';
import { Store } from '../store/store.js';
import type { GlobalOptions } from './options.js';

export async function imagesCommand(opts: { quiet?: boolean }, global: GlobalOptions): Promise<number> {
  const store = await Store.open(global.root);
  const images = await store.listImages();
  // Dangling images (an untagged commit or import) last, as `<none> <none>` (docker's `<none>:<none>`).
  const dangling = await Promise.all((await store.listUntagged()).map(async (descriptor) => {
    const image = await store.resolve(descriptor.digest);
    return { descriptor, created: image?.config.created, size: image?.layers.reduce((sum, layer) => sum + layer.size, 0) ?? 0 };
  }));
  if (opts.quiet) {
    for (const image of images) process.stdout.write(`${shortId(image.manifest.digest)}\n`);
    for (const image of dangling) process.stdout.write(`${shortId(image.descriptor.digest)}\n`);
    return 0;
  }
  const rows = [['REPOSITORY', 'TAG', 'IMAGE ID', 'CREATED', 'SIZE']];
  for (const image of images) {
    const colon = image.name.lastIndexOf(':');
    const slash = image.name.lastIndexOf('/');
    const [repo, tag] = colon > slash ? [image.name.slice(0, colon), image.name.slice(colon + 1)] : [image.name, '<none>'];
    rows.push([repo, tag, shortId(image.manifest.digest), image.created ?? '', humanSize(image.size)]);
  }
  for (const image of dangling) rows.push(['<none>', '<none>', shortId(image.descriptor.digest), image.created ?? '', humanSize(image.size)]);
  const widths = rows[0]!.map((_, col) => Math.max(...rows.map((row) => row[col]!.length)));
  for (const row of rows) process.stdout.write(`${row.map((cell, col) => cell.padEnd(widths[col]!)).join('   ').trimEnd()}\n`);
  return 0;
}

export async function tagCommand(source: string, target: string, global: GlobalOptions): Promise<number> {
  const store = await Store.open(global.root);
  const image = await mustResolve(store, source);
  await store.tag(normalizeTag(target), image.manifestDescriptor);
  return 0;
}

export async function rmiCommand(names: string[], global: GlobalOptions): Promise<number> {
  const store = await Store.open(global.root);
  let code = 0;
  const { imageUsers } = await import('../containers/image-users.js');
  for (const name of names) {
    const users = await imageUsers(store, name);
    if (users) {
      process.stderr.write(`Error: conflict: unable to remove repository reference "${name}" (must force) - container ${users.container.slice(0, 12)} is using its referenced image ${users.imageId.replace(/^sha256:/, '').slice(0, 12)}\n`);
      code = 1;
      continue;
    }
    if (await store.untag(name)) process.stdout.write(`Untagged: ${normalizeTag(name)}\n`);
    else if (await forgetDangling(store, name)) process.stdout.write(`Deleted: ${name}\n`);
    else {
      process.stderr.write(`Error: No such image: ${name}\n`);
      code = 1;
    }
  }
  return code;
}

/** rmi of a dangling image by id: its unnamed index entry goes (GC takes the blobs); false when `name` is not one. */
async function forgetDangling(store: Store, name: string): Promise<boolean> {
  const image = await store.resolve(name).catch(() => undefined);
  if (!image) return false;
  const digest = image.manifestDescriptor.digest;
  if (!(await store.listUntagged()).some((descriptor) => descriptor.digest === digest)) return false;
  return store.forgetUntagged(digest);
}

/** JSON shaped like `docker image inspect`, plus the manifest digest. */
export async function inspectCommand(names: string[], global: GlobalOptions): Promise<number> {
  process.stdout.write(`${JSON.stringify(await inspectImages(names, global), null, 4)}\n`);
  return 0;
}

/** docker image inspect's objects for `names` (IMAGE_NOT_FOUND for an unknown one). */
export async function inspectImages(names: string[], global: GlobalOptions): Promise<unknown[]> {
  const store = await Store.open(global.root);
  const tags = await store.listImages();
  const out = [];
  for (const name of names) {
    const image = await mustResolve(store, name);
    out.push({
      Id: image.manifest.config.digest,
      Digest: image.manifestDescriptor.digest,
      RepoTags: tags.filter((t) => t.manifest.digest === image.manifestDescriptor.digest).map((t) => t.name),
      Created: image.config.created,
      Author: image.config.author ?? '',
      Architecture: image.config.architecture,
      Os: image.config.os,
      Size: image.layers.reduce((sum, layer) => sum + layer.size, 0),
      Config: image.config.config,
      RootFS: { Type: 'layers', Layers: image.config.rootfs.diff_ids },
      History: image.config.history ?? [],
    });
  }
  return out;
}

export async function mustResolve(store: Store, name: string): Promise<Image> {
  const image = await store.resolve(name);
  if (!image) throw new BuildError('IMAGE_NOT_FOUND', `No such image: ${name}`);
  return image;
}

function shortId(digest: string): string {
  return digest.replace(/^sha256:/, '').slice(0, 12);
}

export function humanSize(bytes: number): string {
  const units = ['B', 'kB', 'MB', 'GB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return `${value.toFixed(unit === 0 ? 0 : 1)}${units[unit]}`;
}
