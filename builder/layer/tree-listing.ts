/** A canonical text listing of a directory tree, for comparing filesystems in tests and debugging. */
import { createHash } from 'node:crypto';
import { lstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import type { TarHeader } from './tar-format.js';
import { openLayerTar } from './layer-tar-stream.js';
import { readTar } from './tar-reader.js';
import { readXattrTree } from './xattrs.js';

/**
 * One line per entry under `root` (root excluded), sorted: path, type, mode, owner, size, mtime (seconds, not for
 * directories unless `dirMtimes`), content hash / link target / device numbers, hardlink group and xattrs.
 */
export async function listTree(root: string, options: { dirMtimes?: boolean } = {}): Promise<string[]> {
  const xattrs = await readXattrTree(root);
  const lines: string[] = [];
  const inodes = new Map<number, string>();
  const visit = (rel: string) => {
    for (const name of readdirSync(join(root, rel)).sort()) {
      const path = rel === '' ? name : `${rel}/${name}`;
      const stat = lstatSync(join(root, path));
      let type = 'other';
      let detail = '';
      if (stat.isDirectory()) type = 'dir';
      else if (stat.isFile()) {
        type = 'file';
        detail = createHash('sha256').update(readFileSync(join(root, path))).digest('hex').slice(0, 16);
      } else if (stat.isSymbolicLink()) {
        type = 'symlink';
        detail = readlinkSync(join(root, path));
      } else if (stat.isCharacterDevice()) {
        type = 'char';
        detail = String(stat.rdev);
      } else if (stat.isFIFO()) type = 'fifo';
      let group = '';
      if (stat.isFile() && stat.nlink > 1) {
        group = ` link=${inodes.get(stat.ino) ?? path}`;
        if (!inodes.has(stat.ino)) inodes.set(stat.ino, path);
      }
      const attrs = [...(xattrs.get(path) ?? [])]
        .filter(([key]) => !key.startsWith('trusted.overlay.') || key === 'trusted.overlay.opaque')
        .map(([key, value]) => `${key}=${value.toString('hex')}`)
        .sort()
        .join(',');
      const mtime = stat.isDirectory() && !options.dirMtimes ? '-' : String(Math.floor(stat.mtimeMs / 1000));
      const mode = (stat.mode & 0o7777).toString(8);
      lines.push(`${path} ${type} ${mode} ${stat.uid}:${stat.gid} ${stat.isFile() ? stat.size : 0} ${mtime} ${detail}${group} [${attrs}]`);
      if (stat.isDirectory()) visit(path);
    }
  };
  visit('');
  return lines;
}

/** Every entry of a layer blob (gzip, zstd or plain) with its body as text (meant for small test layers). */
export async function listLayer(file: string): Promise<{ entries: (TarHeader & { content: string })[]; diffId: string }> {
  const tar = readTar((await openLayerTar(file)).tar);
  const entries: (TarHeader & { content: string })[] = [];
  for await (const entry of tar.entries) {
    const chunks: Buffer[] = [];
    for await (const chunk of entry.body()) chunks.push(chunk);
    entries.push({ ...entry.header, content: Buffer.concat(chunks).toString('utf8') });
  }
  return { entries, diffId: tar.digest() };
}
