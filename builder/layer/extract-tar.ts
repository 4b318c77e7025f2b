/** Safe, streaming tar → directory writer shared by layer extraction (overlay whiteouts) and ADD (plain merge). */
import { spawn } from 'node:child_process';
import {
  closeSync, constants, fchmodSync, fchownSync, futimesSync, lchownSync, linkSync, lstatSync, lutimesSync, chmodSync,
  mkdirSync, openSync, rmSync, symlinkSync, unlinkSync, utimesSync, writeSync, type Stats,
} from 'node:fs';
import { open, realpath } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { BuildError } from '../errors.js';
import { baseOf, cleanEntryPath, DirectoryGuard, parentOf } from './safe-path.js';
import type { TarHeader } from './tar-format.js';
import { readTar, type TarEntry } from './tar-reader.js';
import { restoreXattrs } from './xattrs.js';

/** How {@link extractTarStream} treats the archive. */
export interface ExtractTarOptions {
  /** 'overlay': `.wh.*` entries become overlay whiteouts (layers). 'none': they are ordinary files (ADD archives). */
  whiteouts: 'overlay' | 'none';
  /** Override every entry's owner (ADD --chown); otherwise the archive's numeric uid/gid are kept. */
  chown?: { uid: number; gid: number };
}

const SMALL_FILE = 1024 * 1024;
const WHITEOUT_PREFIX = '.wh.';
const OPAQUE_WHITEOUT = '.wh..wh..opq';
const XATTR_NAME = /^(user|security|trusted|system)\.[\x21-\x3c\x3e-\x7e]+$/;

interface DeferredNode {
  rel: string;
  kind: 'whiteout' | 'fifo';
  header: TarHeader;
}

function invalid(message: string): BuildError {
  return new BuildError('LAYER_INVALID', message);
}

function lstatOrUndefined(path: string): Stats | undefined {
  try {
    return lstatSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

function runBatch(script: string, args: string[], cwd: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('sh', ['-c', script, 'sh', ...args], { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0 ? resolve() : reject(new BuildError('INTERNAL', `creating special files in ${cwd} failed: ${stderr.slice(0, 400)}`)),
    );
  });
}

class TarExtractor {
  private readonly guard: DirectoryGuard;
  private readonly dirHeaders = new Map<string, TarHeader>();
  private readonly xattrs = new Map<string, Map<string, Buffer>>();
  private readonly deferred: DeferredNode[] = [];

  constructor(root: string, private readonly options: ExtractTarOptions) {
    this.guard = new DirectoryGuard(root);
  }

  private owner(header: TarHeader): { uid: number; gid: number } {
    return this.options.chown ?? { uid: header.uid, gid: header.gid };
  }

  private queueXattrs(rel: string, header: TarHeader, isSymlink: boolean): void {
    const kept = new Map<string, Buffer>();
    for (const [name, value] of header.xattrs) {
      if (!XATTR_NAME.test(name)) throw invalid(`invalid tar archive: entry "${header.name}" has an invalid xattr name "${name}"`);
      // Overlay bookkeeping from outside could redirect lookups; user.* is not allowed on symlinks by the kernel.
      if (name.startsWith('trusted.overlay.') || (isSymlink && name.startsWith('user.'))) continue;
      kept.set(name, value);
    }
    if (kept.size > 0) this.xattrs.set(rel, kept);
  }

  /** Removes whatever is at `rel` unless it is a directory and `keepDir` (tar semantics: later entries win). */
  private clear(rel: string, keepDir: boolean): void {
    const abs = this.guard.abs(rel);
    const stat = lstatOrUndefined(abs);
    if (!stat || (keepDir && stat.isDirectory())) return;
    if (stat.isDirectory()) {
      rmSync(abs, { recursive: true, force: true });
      this.guard.forget(rel);
      for (const dir of this.dirHeaders.keys()) if (dir === rel || dir.startsWith(rel + '/')) this.dirHeaders.delete(dir);
    } else unlinkSync(abs);
    this.xattrs.delete(rel);
  }

  async entry(entry: TarEntry): Promise<void> {
    const header = entry.header;
    const rel = cleanEntryPath(header.name);
    if (rel === '') return; // the root itself: its metadata belongs to whoever owns targetDir
    const parent = parentOf(rel);
    const base = baseOf(rel);
    this.guard.ensureDir(parent, header.name);
    if (this.options.whiteouts === 'overlay' && base.startsWith(WHITEOUT_PREFIX)) {
      if (base === OPAQUE_WHITEOUT) {
        this.xattrs.set(parent, new Map([...(this.xattrs.get(parent) ?? []), ['trusted.overlay.opaque', Buffer.from('y')]]));
      } else {
        const hidden = (parent === '' ? '' : parent + '/') + base.slice(WHITEOUT_PREFIX.length);
        if (base.length === WHITEOUT_PREFIX.length || cleanEntryPath(hidden) !== hidden) throw invalid(`invalid tar archive: bad whiteout "${header.name}"`);
        this.clear(hidden, false);
        this.deferred.push({ rel: hidden, kind: 'whiteout', header });
      }
      return;
    }
    const abs = this.guard.abs(rel);
    const { uid, gid } = this.owner(header);
    switch (header.type) {
      case 'directory':
        this.clear(rel, true);
        if (!lstatOrUndefined(abs)) mkdirSync(abs, 0o700);
        this.guard.markDir(rel);
        this.dirHeaders.set(rel, header);
        break;
      case 'file':
        this.clear(rel, false);
        await this.writeFile(abs, entry, uid, gid);
        break;
      case 'symlink':
        this.clear(rel, false);
        symlinkSync(header.linkname, abs);
        lchownSync(abs, uid, gid);
        lutimesSync(abs, header.mtime, header.mtime);
        break;
      case 'link': {
        const target = cleanEntryPath(header.linkname, 'hardlink target');
        if (target === '') throw invalid(`invalid tar archive: hardlink "${header.name}" points at the root`);
        this.guard.verifyDir(parentOf(target), header.name);
        const targetStat = lstatOrUndefined(this.guard.abs(target));
        if (!targetStat || targetStat.isDirectory()) {
          throw invalid(`invalid tar archive: hardlink "${header.name}" points at "${header.linkname}", which is not a file in this archive`);
        }
        if (target === rel) return;
        this.clear(rel, false);
        linkSync(this.guard.abs(target), abs);
        break;
      }
      case 'fifo':
        this.clear(rel, false);
        this.deferred.push({ rel, kind: 'fifo', header });
        break;
      case 'char':
      case 'block':
        throw invalid(`invalid tar archive: entry "${header.name}" is a device node (${header.devmajor},${header.devminor}); device nodes are not allowed in images`);
    }
    this.queueXattrs(rel, header, header.type === 'symlink');
  }

  private async writeFile(abs: string, entry: TarEntry, uid: number, gid: number): Promise<void> {
    const { header } = entry;
    const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
    if (header.size <= SMALL_FILE) {
      const fd = openSync(abs, flags, 0o600);
      try {
        for await (const chunk of entry.body()) writeSync(fd, chunk);
        fchownSync(fd, uid, gid);
        fchmodSync(fd, header.mode & 0o7777);
        futimesSync(fd, header.mtime, header.mtime);
      } finally {
        closeSync(fd);
      }
      return;
    }
    const handle = await open(abs, flags, 0o600);
    try {
      let batch: Buffer[] = [];
      let batchBytes = 0;
      for await (const chunk of entry.body()) {
        batch.push(chunk);
        batchBytes += chunk.length;
        if (batchBytes >= SMALL_FILE) {
          await handle.write(Buffer.concat(batch, batchBytes));
          batch = [];
          batchBytes = 0;
        }
      }
      if (batchBytes > 0) await handle.write(Buffer.concat(batch, batchBytes));
      await handle.chown(uid, gid);
      await handle.chmod(header.mode & 0o7777);
      await handle.utimes(header.mtime, header.mtime);
    } finally {
      await handle.close();
    }
  }

  /** Special files (one process per batch), then xattrs, then directory metadata deepest first. */
  async finish(): Promise<void> {
    for (const node of this.deferred) this.guard.verifyDir(parentOf(node.rel), node.header.name);
    const root = this.guard.root;
    const whiteouts = this.deferred.filter((node) => node.kind === 'whiteout').map((node) => './' + node.rel);
    const fifos = this.deferred.filter((node) => node.kind === 'fifo');
    for (let i = 0; i < whiteouts.length; i += 500) {
      await runBatch('for p do mknod -- "$p" c 0 0 || exit 1; done', whiteouts.slice(i, i + 500), root);
    }
    for (let i = 0; i < fifos.length; i += 500) {
      await runBatch('mkfifo -- "$@"', fifos.slice(i, i + 500).map((node) => './' + node.rel), root);
    }
    for (const { rel, header } of fifos) {
      const { uid, gid } = this.owner(header);
      lchownSync(this.guard.abs(rel), uid, gid);
      chmodSync(this.guard.abs(rel), header.mode & 0o7777);
      utimesSync(this.guard.abs(rel), header.mtime, header.mtime);
    }
    for (const rel of this.xattrs.keys()) this.guard.verifyDir(parentOf(rel), rel);
    await restoreXattrs(root, this.xattrs);
    const dirs = [...this.dirHeaders.keys()].sort((a, b) => b.split('/').length - a.split('/').length);
    for (const rel of dirs) {
      const header = this.dirHeaders.get(rel)!;
      const { uid, gid } = this.owner(header);
      const abs = this.guard.abs(rel);
      lchownSync(abs, uid, gid);
      chmodSync(abs, header.mode & 0o7777);
      utimesSync(abs, header.mtime, header.mtime);
    }
  }
}

/**
 * Extracts an (already decompressed) tar stream into `targetDir`. Never writes outside it: `..` escapes, writes
 * through symlinks, hardlinks outside and device nodes are rejected with BuildError('LAYER_INVALID').
 * Returns the sha256 of every byte read (the diffId when the stream is a layer).
 */
export async function extractTarStream(input: Readable, targetDir: string, options: ExtractTarOptions): Promise<{ diffId: string }> {
  const root = await realpath(targetDir);
  const extractor = new TarExtractor(root, options);
  const tar = readTar(input);
  for await (const entry of tar.entries) {
    try {
      await extractor.entry(entry);
    } catch (err) {
      if (err instanceof BuildError) throw err;
      throw new BuildError('LAYER_INVALID', `extracting "${entry.header.name}" failed: ${(err as Error).message}`, { cause: err });
    }
  }
  await extractor.finish();
  return { diffId: tar.digest() };
}
