import { closeSync, fsync, openSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { link, open, rename, unlink } from 'node:fs/promises';

/**
 * Writes `content` to `path` via a temp file and rename, so readers see the old or the new file, never a mix.
 * `sync: false` skips the fsync for files that can be rebuilt (cache records, traces): a crash of the machine may
 * then leave an empty file, which their readers treat as missing.
 */
export async function writeFileAtomic(
  path: string,
  content: string | Buffer,
  options: { overwrite?: boolean; sync?: boolean } = {},
): Promise<void> {
  const overwrite = options.overwrite ?? true;
  const temp = `${path}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  const handle = await open(temp, 'w');
  try {
    await handle.writeFile(content);
    if (options.sync ?? true) await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    if (overwrite) {
      await rename(temp, path);
      return;
    }
    // link() refuses to replace, which makes "create unless present" atomic.
    await link(temp, path).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'EEXIST') throw err;
    });
  } finally {
    if (!overwrite) await unlink(temp).catch(() => undefined);
  }
}

/**
 * The same for a small file that need not survive a power cut (a cache record): synchronous, because for a few
 * hundred bytes the thread-pool round trips of open/write/close/rename cost far more than the work.
 *
 * `unlinkFirst` (for memos whose readers take a missing file as empty: cache/dir-xattrs.json, the context hashes)
 * removes the old file before the rename, so readers see the old file, none, or the new one. The rename then never
 * replaces a file, which on ext4 (auto_da_alloc's replace-via-rename) forces the new file's delayed allocation and
 * can wait on the journal behind whatever the build has just written: in a warm daemon's store, where the memo
 * exists, that rename took 775 ms of the main thread in the commit of bench-big's 300 MB layer (`--cpu-prof`).
 */
export function writeSmallFileAtomicSync(path: string, content: string, options: { unlinkFirst?: boolean } = {}): void {
  const temp = `${path}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  writeFileSync(temp, content);
  try {
    if (options.unlinkFirst) rmSync(path, { force: true });
    renameSync(temp, path);
  } catch (err) {
    rmSync(temp, { force: true });
    throw err;
  }
}

/**
 * writeFileAtomic for a small file that must survive a power cut (a container's record and state): open, write,
 * close and rename are synchronous (microseconds each for a few KB), only the fsync goes to the thread pool. One
 * pool round trip instead of five: under load each costs 1-8 ms, and `run -d` writes two such files on its path.
 */
export async function writeSmallFileDurable(path: string, content: string): Promise<void> {
  const temp = `${path}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  await writeSmallFileSynced(temp, content);
  try {
    renameSync(temp, path);
  } catch (err) {
    rmSync(temp, { force: true });
    throw err;
  }
}

/**
 * Writes a small new file and fsyncs it (open, write and close direct, the fsync in the thread pool); on failure
 * nothing is left. For a file that something renames into place later (store.prepareTags).
 */
export async function writeSmallFileSynced(path: string, content: string | Buffer): Promise<void> {
  const fd = openSync(path, 'w');
  try {
    writeFileSync(fd, content);
    await new Promise<void>((resolve, reject) => fsync(fd, (err) => (err ? reject(err) : resolve())));
  } catch (err) {
    closeSync(fd);
    rmSync(path, { force: true });
    throw err;
  }
  closeSync(fd);
}
