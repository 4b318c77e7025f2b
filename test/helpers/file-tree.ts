/** A file tree as comparable text: what a layer diff must preserve (type, mode, owner, size, link), never mtimes. */
import { lstat, readdir, readlink } from 'node:fs/promises';
import path from 'node:path';

/** path → `type mode uid:gid size|-> target`, for every entry under `root` (root itself excluded). */
export async function describeTree(root: string): Promise<Map<string, string>> {
  const tree = new Map<string, string>();
  async function visit(dir: string): Promise<void> {
    for (const name of (await readdir(dir)).sort()) {
      const full = path.join(dir, name);
      const stat = await lstat(full);
      const rel = `/${path.relative(root, full)}`;
      const owner = `${(stat.mode & 0o7777).toString(8)} ${stat.uid}:${stat.gid}`;
      if (stat.isSymbolicLink()) tree.set(rel, `link ${owner} -> ${await readlink(full)}`);
      else if (stat.isDirectory()) {
        tree.set(rel, `dir ${owner}`);
        await visit(full);
      } else if (stat.isFile()) tree.set(rel, `file ${owner} ${stat.size} nlink=${stat.nlink}`);
      else tree.set(rel, `other ${owner}`);
    }
  }
  await visit(root);
  return tree;
}

/** Lines saying how `actual` differs from `expected`; empty when they agree. */
export function diffTrees(expected: Map<string, string>, actual: Map<string, string>): string[] {
  const lines: string[] = [];
  for (const [entry, want] of expected) {
    const got = actual.get(entry);
    if (got === undefined) lines.push(`missing ${entry} (${want})`);
    else if (got !== want) lines.push(`differs ${entry}: want ${want}, got ${got}`);
  }
  for (const [entry, got] of actual) if (!expected.has(entry)) lines.push(`extra ${entry} (${got})`);
  return lines;
}
