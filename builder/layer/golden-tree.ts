/**
 * A directory tree built the same way on every machine (fixed modes, owners, mtimes, xattrs, content), holding
 * every kind of entry the layer writer handles: files small and big (compressible and not, bigger than a gzip
 * block and than the spool), empty files, directories, symlinks (long targets too), hardlinks, FIFOs, devices,
 * overlay whiteouts and opaque dirs, long names, PAX-sized ids, binary xattrs and file capabilities. Tests pin
 * the layer digests of this tree, so a change of the writer that changes layer bytes (and so image digests) fails.
 * Needs root (chown, mknod, trusted.* xattrs) and the attr/libcap tools.
 */
import { execFileSync } from 'node:child_process';
import { createCipheriv, createHash } from 'node:crypto';
import { chmod, lchown, link, lutimes, mkdir, readdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** Deterministic incompressible bytes: AES-256-CTR of zeros under a key made from the seed. */
export function pseudoRandom(seed: string, size: number): Buffer {
  const key = createHash('sha256').update(seed).digest();
  const cipher = createCipheriv('aes-256-ctr', key, Buffer.alloc(16));
  return Buffer.concat([cipher.update(Buffer.alloc(size)), cipher.final()]);
}

function text(lines: number): Buffer {
  const parts: string[] = [];
  for (let line = 1; line <= lines; line++) parts.push(`${line} the quick brown fox ${line % 97}\n`);
  return Buffer.from(parts.join(''));
}

/** Sets every entry's mtime (children before parents, so a directory's own time is the last one set). */
async function stampTimes(root: string, rel = ''): Promise<void> {
  const abs = join(root, rel);
  const names = (await readdir(abs, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : 1));
  for (const entry of names) {
    const child = rel === '' ? entry.name : `${rel}/${entry.name}`;
    if (entry.isDirectory()) await stampTimes(root, child);
    // Distinct, fixed times (from the name), some above the usual SOURCE_DATE_EPOCH test values.
    const seconds = 1_600_000_000 + (createHash('sha256').update(child).digest().readUInt32BE(0) % 100_000_000);
    await lutimes(join(root, child), seconds, seconds);
  }
}

/** Builds the tree under `root` (which must exist and be empty). */
export async function makeGoldenTree(root: string): Promise<void> {
  const at = (rel: string): string => join(root, rel);
  await mkdir(at('etc/deep/er'), { recursive: true });
  await writeFile(at('etc/hosts'), '127.0.0.1 localhost\n');
  await writeFile(at('etc/deep/er/b'), 'b');
  await writeFile(at('empty'), '');
  await writeFile(at('block-exact'), Buffer.alloc(512, 0x61));
  await writeFile(at('mib-exact'), pseudoRandom('mib', 1024 * 1024));
  await writeFile(at('mib-plus-one'), text(45_000).subarray(0, 1024 * 1024 + 1));
  // Bigger than a gzip block (1 MiB) with a compressible and an incompressible half, not block-aligned.
  await mkdir(at('big'));
  await writeFile(at('big/mixed'), Buffer.concat([text(120_000), pseudoRandom('mixed', 2 * 1024 * 1024 + 7)]));
  await writeFile(at('big/text'), text(200_000));
  // From 8 MiB on, the writer reads a file twice (hash now, gzip from its handle later): one exactly there, one over.
  await writeFile(at('big/huge-a'), Buffer.concat([pseudoRandom('huge', 5 * 1024 * 1024), text(200_000)]).subarray(0, 9 * 1024 * 1024 + 3));
  await writeFile(at('big/huge-b'), text(400_000).subarray(0, 8 * 1024 * 1024));
  for (let index = 0; index < 300; index++) {
    await mkdir(at(`many/d${index % 7}`), { recursive: true });
    await writeFile(at(`many/d${index % 7}/f${index}`), `file ${index}\n`.repeat(index % 13));
  }
  await writeFile(at('suid'), '#!/bin/sh\n');
  await chmod(at('suid'), 0o4755);
  await writeFile(at('zero-mode'), 'x');
  await chmod(at('zero-mode'), 0);
  await mkdir(at('tmp'));
  await chmod(at('tmp'), 0o1777);
  await writeFile(at('owned'), 'owned\n');
  await lchown(at('owned'), 1234, 3_000_000);
  await link(at('etc/hosts'), at('hosts-link'));
  await link(at('etc/hosts'), at('many/hosts-link-2'));
  await symlink('etc/hosts', at('sym'));
  await lchown(at('sym'), 7, 8);
  await symlink('/' + 'target/'.repeat(20) + 'x', at('sym-long-target'));
  const longDir = 'n'.repeat(120) + '/' + 'm'.repeat(120);
  await mkdir(at(longDir), { recursive: true });
  await writeFile(at(`${longDir}/file`), 'deep');
  await writeFile(at('ünïcødé name with spaces'), 'utf8');
  execFileSync('mkfifo', [at('fifo')]);
  execFileSync('mknod', [at('null-dev'), 'c', '1', '3']);
  execFileSync('mknod', [at('block-dev'), 'b', '7', '200']);
  // Overlay whiteouts: a 0/0 char device (→ .wh.name) and an opaque dir (→ .wh..wh..opq).
  execFileSync('mknod', [at('gone'), 'c', '0', '0']);
  execFileSync('mknod', [at('etc/gone-too'), 'c', '0', '0']);
  await mkdir(at('opaque'));
  await writeFile(at('opaque/kept'), 'kept');
  execFileSync('setfattr', ['-n', 'trusted.overlay.opaque', '-v', 'y', at('opaque')]);
  execFileSync('setfattr', ['-n', 'trusted.overlay.impure', '-v', 'y', at('etc')]);
  execFileSync('setfattr', ['-n', 'user.note', '-v', '0x00ff10', at('etc/deep/er/b')]);
  execFileSync('setfattr', ['-n', 'user.other', '-v', 'text value', at('etc/deep/er/b')]);
  execFileSync('setfattr', ['-n', 'user.dir', '-v', 'on a dir', at('tmp')]);
  execFileSync('setcap', ['cap_net_raw+ep', at('suid')]);
  await stampTimes(root);
}
