import { loadImages, saveImages } from '../store/archive.js';
import { Store } from '../store/store.js';
import { unpackImages } from '../snapshot/unpack-images.js';
import { mustResolve } from './images.js';
import type { GlobalOptions } from './options.js';

export async function loadCommand(input: string, global: GlobalOptions): Promise<number> {
  const store = await Store.open(global.root);
  const names = await loadImages(store, input);
  await unpackImages(store, names);
  for (const name of names) process.stdout.write(name.startsWith('sha256:') ? `Loaded image ID: ${name}\n` : `Loaded image: ${name}\n`);
  return 0;
}

export async function saveCommand(names: string[], output: string, format: 'oci' | 'docker', global: GlobalOptions): Promise<number> {
  const store = await Store.open(global.root);
  for (const name of names) await mustResolve(store, name);
  // An OCI archive from `save` holds OCI manifests only, so OCI-only tools read every image in it.
  await saveImages(store, names, output, format, true);
  return 0;
}
