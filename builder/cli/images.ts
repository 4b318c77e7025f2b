import { humanDuration } from '../containers/inspect.js';
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
    return {
      id: image?.manifest.config.digest ?? descriptor.digest, created: image?.config.created,
      size: image?.layers.reduce((sum, layer) => sum + layer.size, 0) ?? 0,
    };
  }));
  // IMAGE ID is docker's: the config digest (what commit, build and `docker images` print), not the manifest's.
  const tagged = await Promise.all(images.map(async (image) => ({ ...image, id: await configDigest(store, image.manifest.digest) })));
  if (opts.quiet) {
    for (const image of [...tagged, ...dangling]) process.stdout.write(`${shortId(image.id)}\n`);
    return 0;
  }
  const rows = [['REPOSITORY', 'TAG', 'IMAGE ID', 'CREATED', 'SIZE']];
  for (const image of tagged) {
    const colon = image.name.lastIndexOf(':');
    const slash = image.name.lastIndexOf('/');
    const [repo, tag] = colon > slash ? [image.name.slice(0, colon), image.name.slice(colon + 1)] : [image.name, '<none>'];
    rows.push([repo, tag, shortId(image.id), createdAgo(image.created), humanSize(image.size)]);
  }
  for (const image of dangling) rows.push(['<none>', '<none>', shortId(image.id), createdAgo(image.created), humanSize(image.size)]);
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
  let deleted: string | undefined;
  const { imageUsers } = await import('../containers/image-users.js');
  for (const name of names) {
    const users = await imageUsers(store, name);
    if (users) {
      process.stderr.write(`Error: conflict: unable to remove repository reference "${name}" (must force) - container ${users.container.slice(0, 12)} is using its referenced image ${users.imageId.replace(/^sha256:/, '').slice(0, 12)}\n`);
      code = 1;
      continue;
    }
    if (await store.untag(name)) process.stdout.write(`Untagged: ${normalizeTag(name)}\n`);
    else if ((deleted = await forgetDangling(store, name))) process.stdout.write(`Deleted: ${deleted}\n`);
    else {
      process.stderr.write(`Error: No such image: ${name}\n`);
      code = 1;
    }
  }
  return code;
}

/**
 * rmi of a dangling image by id: its unnamed index entry goes (GC takes the blobs). The image's id (config digest,
 * as docker prints it after "Deleted:"), or undefined when `name` is not a dangling image.
 */
async function forgetDangling(store: Store, name: string): Promise<string | undefined> {
  const image = await store.resolve(name).catch(() => undefined);
  if (!image) return undefined;
  const digest = image.manifestDescriptor.digest;
  if (!(await store.listUntagged()).some((descriptor) => descriptor.digest === digest)) return undefined;
  return await store.forgetUntagged(digest) ? image.manifest.config.digest : undefined;
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

/** The config digest of the image whose manifest is `manifestDigest` (the manifest's own digest if it won't resolve). */
async function configDigest(store: Store, manifestDigest: string): Promise<string> {
  return (await store.resolve(manifestDigest).catch(() => undefined))?.manifest.config.digest ?? manifestDigest;
}

/** docker's CREATED column: "3 days ago" (N/A without a time). */
function createdAgo(created: string | undefined): string {
  const time = created ? Date.parse(created) : Number.NaN;
  return Number.isNaN(time) ? 'N/A' : `${humanDuration(Date.now() - time)} ago`;
}

function shortId(digest: string): string {
  return digest.replace(/^sha256:/, '').slice(0, 12);
}

export function humanSize(bytes: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB', 'PB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  // docker's units.HumanSizeWithPrecision(size, 3): three significant digits ("1.11MB", "5.6kB", "0B").
  return `${Number(value.toPrecision(3))}${units[unit]}`;
}
