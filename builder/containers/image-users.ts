import type { Store } from '../store/store.js';
import { ContainerPaths, listIds, readRecord } from './record.js';

/**
 * The container that keeps `name`'s image from being removed: one made from that image, when `name` is the
 * image's last tag (another tag of the same image may still be untagged, as docker allows).
 */
export async function imageUsers(store: Store, name: string): Promise<{ container: string; imageId: string } | undefined> {
  const image = await store.resolve(name).catch(() => undefined);
  if (!image) return undefined;
  const digest = image.manifestDescriptor.digest;
  const tags = (await store.listImages()).filter((tag) => tag.manifest.digest === digest);
  const distinct = new Set(tags.map((tag) => tag.name.replace(/:latest$/, '')));
  if (distinct.size > 1) return undefined;
  for (const id of await listIds(store.containersDir)) {
    const record = await readRecord(new ContainerPaths(store.containersDir, id)).catch(() => undefined);
    if (record?.imageDigest === digest) return { container: id, imageId: record.imageId };
  }
  return undefined;
}
