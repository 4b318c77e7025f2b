import { spawn } from 'node:child_process';
import { createReadStream, createWriteStream } from 'node:fs';
import { link, mkdir, open, symlink } from 'node:fs/promises';
import path from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import tar, { type ExtractEvents } from 'tar-stream';
import { isGzipMagic } from '../layer/compression-magic.js';
import { BuildError, errorMessage } from '../errors.js';
import { applyMeta, clearForArchiveEntry, ensureDirInRoot, type EntryMeta, type Owner } from './dest-fs.js';
import { resolveInRoot } from './root-path.js';
import { cleanEntryPath } from '../layer/safe-path.js';

export type ArchiveKind = 'tar' | 'gzip' | 'bzip2' | 'xz';

const ROOT_OWNER: Owner = { uid: 0, gid: 0 };

type TarEntry = ExtractEvents['entry'][1];

/** Detects a local tar archive by content (never by name), as ADD does; undefined = copy the file as is. */
export async function detectArchive(hostPath: string): Promise<ArchiveKind | undefined> {
  const head = await readHead(hostPath, 512);
  let kind: ArchiveKind;
  if (isGzipMagic(head)) kind = 'gzip';
  else if (head.subarray(0, 3).toString('latin1') === 'BZh') kind = 'bzip2';
  else if (head.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))) kind = 'xz';
  else return isTarHeader(head) ? 'tar' : undefined;
  // Compressed but not a tar inside (e.g. a plain .gz): ADD copies it unchanged.
  const inner = await readStreamHead(openDecompressed(hostPath, kind), 512).catch(() => Buffer.alloc(0));
  return isTarHeader(inner) ? kind : undefined;
}

/**
 * Extracts an archive into `destDirInImage` under `destRoot`. Entries keep the archive's modes, owners and
 * mtimes (BuildKit does not apply --chown to unpacked content); `..` escapes are rejected.
 */
/**
 * `owner` is ADD's `--chown`: as BuildKit's unpack (archive.ChownOpts, moby/buildkit 46e52f4), every entry the
 * archive holds gets it instead of the uid/gid in its header.
 */
export async function extractArchive(hostPath: string, kind: ArchiveKind, destRoot: string, destDirInImage: string, owner?: Owner): Promise<void> {
  const extract = tar.extract();
  const dirMetas: EntryMeta[] = [];
  const limit = maxUnpackedBytes();
  const feed = limit === undefined
    ? pipeline(openDecompressed(hostPath, kind), extract)
    : pipeline(openDecompressed(hostPath, kind), unpackedLimit(limit, path.basename(hostPath)), extract);
  try {
    for await (const entry of extract) {
      await extractEntry(entry, destRoot, destDirInImage, dirMetas, owner);
    }
    await feed;
  } catch (err) {
    feed.catch(() => undefined);
    if (err instanceof BuildError) throw err;
    throw new BuildError('ARCHIVE_INVALID', `failed to extract ${path.basename(hostPath)}: ${errorMessage(err)}`, { cause: err });
  }
  for (const meta of dirMetas.reverse()) applyMeta(meta);
}

async function extractEntry(entry: TarEntry, destRoot: string, destDir: string, dirMetas: EntryMeta[], owner?: Owner): Promise<void> {
  const header = entry.header;
  const name = safeName(header.name);
  if (name === '') {
    entry.resume(); // the archive's `.`: the dest dir keeps its own metadata
    return;
  }
  const parentInImage = path.posix.join(destDir, path.posix.dirname(name));
  const parentHost = await ensureDirInRoot(destRoot, parentInImage, ROOT_OWNER);
  const target = path.join(parentHost, path.posix.basename(name));
  const mtime = header.mtime ?? new Date(0);
  const meta: EntryMeta = {
    hostPath: target,
    owner: owner ?? { uid: header.uid ?? 0, gid: header.gid ?? 0 },
    mode: header.mode ?? 0o644,
    atime: mtime,
    mtime,
    symlink: false,
  };
  const existing = await clearForArchiveEntry(target, header.type === 'directory');
  switch (header.type) {
    case 'directory':
      if (!existing) await mkdir(target);
      dirMetas.push(meta);
      entry.resume();
      return;
    case 'file':
    case 'contiguous-file':
      await pipeline(entry, createWriteStream(target, { mode: 0o600 }));
      break;
    case 'symlink':
      await symlink(header.linkname ?? '', target);
      meta.symlink = true;
      entry.resume();
      break;
    case 'link': {
      const linkName = safeName(header.linkname ?? '');
      const linkParent = await resolveInRoot(destRoot, path.posix.join(destDir, path.posix.dirname(linkName)));
      await link(path.join(linkParent, path.posix.basename(linkName)), target);
      entry.resume();
      return; // shares the inode's metadata
    }
    case 'character-device':
    case 'block-device':
    case 'fifo':
      await makeNode(target, header.type, header.devmajor ?? 0, header.devminor ?? 0);
      entry.resume();
      break;
    default:
      entry.resume();
      return;
  }
  applyMeta(meta);
}

/**
 * `BUILDER_ADD_MAX_UNPACKED_BYTES`: the most an ADDed local archive may unpack to (a 10 MB gzip can hold
 * terabytes of zeros). Unset means no limit, as in docker; a farm sets it in the worker's environment.
 */
export function maxUnpackedBytes(env: NodeJS.ProcessEnv = process.env): number | undefined {
  const value = env.BUILDER_ADD_MAX_UNPACKED_BYTES;
  if (value === undefined || value === '' || value === '0') return undefined;
  if (!/^\d+$/.test(value)) throw new BuildError('INVALID_ARGUMENT', `invalid BUILDER_ADD_MAX_UNPACKED_BYTES "${value}": want a number of bytes`);
  return Number(value);
}

/** Passes the decompressed tar through, failing once more than `limit` bytes came out. */
function unpackedLimit(limit: number, name: string): Transform {
  let total = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      total += chunk.length;
      if (total > limit) {
        done(new BuildError('ARCHIVE_INVALID', `ADD failed: archive ${name} unpacks to more than ${limit} bytes (the BUILDER_ADD_MAX_UNPACKED_BYTES limit)`));
      } else done(null, chunk);
    },
  });
}

/** A member name relative to the extraction dir (layer/safe-path.ts, the one tar path guard); ADD words the refusal. */
function safeName(name: string): string {
  try {
    return cleanEntryPath(name);
  } catch {
    throw new BuildError('ARCHIVE_INVALID', `archive entry "${name}" would be extracted outside the destination`);
  }
}

function openDecompressed(hostPath: string, kind: ArchiveKind): Readable {
  if (kind === 'tar') return createReadStream(hostPath);
  if (kind === 'gzip') return createReadStream(hostPath).pipe(createGunzip());
  const child = spawn(kind, ['-dc', hostPath], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  child.on('close', (code) => {
    if (code !== 0 && code !== null && !child.stdout.destroyed) {
      child.stdout.destroy(new Error(`${kind} -dc exited with ${code}: ${stderr.trim().slice(0, 200)}`));
    }
  });
  child.on('error', (err) => child.stdout.destroy(err));
  child.stdout.on('close', () => child.kill());
  return child.stdout;
}

async function makeNode(target: string, type: string, major: number, minor: number): Promise<void> {
  const args = type === 'fifo' ? [target, 'p'] : [target, type === 'block-device' ? 'b' : 'c', String(major), String(minor)];
  await new Promise<void>((resolve, reject) => {
    const child = spawn('mknod', args, { stdio: 'ignore' });
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`mknod ${target} failed`))));
  });
}

async function readHead(hostPath: string, size: number): Promise<Buffer> {
  const handle = await open(hostPath, 'r');
  try {
    const buffer = Buffer.alloc(size);
    const { bytesRead } = await handle.read(buffer, 0, size, 0);
    return buffer.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}

async function readStreamHead(stream: Readable, size: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  try {
    for await (const chunk of stream) {
      chunks.push(chunk as Buffer);
      total += (chunk as Buffer).length;
      if (total >= size) break;
    }
  } finally {
    stream.destroy();
  }
  return Buffer.concat(chunks).subarray(0, size);
}

/** A POSIX/GNU tar header block: the checksum field must match the block's byte sum. */
function isTarHeader(block: Buffer): boolean {
  if (block.length < 512) return false;
  const stored = parseInt(block.subarray(148, 156).toString('latin1').replace(/\0.*$/s, '').trim(), 8);
  if (Number.isNaN(stored)) return false;
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 0x20 : block[i]!;
  return sum === stored;
}
