/**
 * Reading one control file of a build context (the Dockerfile, `.dockerignore`, `<Dockerfile>.dockerignore`).
 * A file inside the context is resolved like any COPY source (symlinks followed *inside* the context, an absolute
 * link target restarting at the context root), so an uploaded `Dockerfile -> /proc/self/environ` names the
 * context's own `proc/self/environ` and never the worker's. Only regular files are read (no FIFO that would
 * hang, no device), and never more than `maxBytes`.
 */
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import path from 'node:path';
import { BuildError, type ErrorCode } from '../errors.js';
import { resolveInRootSync } from './root-path.js';

export interface ContextFile {
  /** The path actually read (inside the context when the file was named inside it). */
  path: string;
  content: Buffer;
}

export interface ReadContextFileOptions {
  /** For messages: `Dockerfile`, `.dockerignore`. */
  what: string;
  maxBytes: number;
  /** The code of a too-large file. */
  tooLargeCode?: ErrorCode;
}

/** True when `file` lies lexically inside `root` (the root itself excluded). */
export function isInside(root: string, file: string): boolean {
  const relative = path.relative(path.resolve(root), path.resolve(file));
  return relative !== '' && !relative.startsWith('..') && !path.isAbsolute(relative);
}

/** Where `file` really is: resolved in the context when it is named inside it, else as given (an explicit `-f` outside). */
export async function locateContextFile(contextDir: string, file: string): Promise<string> {
  return locateContextFileSync(contextDir, file);
}

function locateContextFileSync(contextDir: string, file: string): string {
  if (!isInside(contextDir, file)) return path.resolve(file);
  const relative = path.relative(path.resolve(contextDir), path.resolve(file));
  try {
    return resolveInRootSync(contextDir, relative);
  } catch (err) {
    throw new BuildError('INVALID_ARGUMENT', `failed to read ${relative}: ${(err as Error).message}`, { cause: err });
  }
}

/**
 * Reads the file, or returns undefined when it does not exist (inside the context, after resolution). The calls
 * are direct (no thread pool): every build reads its Dockerfile and looks for two ignore files this way, a few
 * KiB at most (the caps bound it), and each round trip of the async API cost 0.1–0.5 ms on a loaded machine.
 */
export async function readContextFile(contextDir: string, file: string, options: ReadContextFileOptions): Promise<ContextFile | undefined> {
  const located = locateContextFileSync(contextDir, file);
  const shown = isInside(contextDir, file) ? path.relative(path.resolve(contextDir), path.resolve(file)) : file;
  let fd: number;
  try {
    // O_NOFOLLOW: the resolution above left no link in the last component; one appearing now is a race we refuse.
    // O_NONBLOCK: opening a FIFO must not wait for a writer.
    fd = openSync(located, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    if (code === 'ELOOP') throw new BuildError('INVALID_ARGUMENT', `failed to read ${options.what} ${shown}: it is a symbolic link that changed while reading`);
    throw new BuildError('INVALID_ARGUMENT', `failed to read ${options.what} ${shown}: ${code ?? 'error'}`, { cause: err });
  }
  try {
    const info = fstatSync(fd);
    if (info.isDirectory()) throw new BuildError('INVALID_ARGUMENT', `failed to read ${options.what}: read ${shown}: is a directory`);
    if (!info.isFile()) throw new BuildError('INVALID_ARGUMENT', `failed to read ${options.what} ${shown}: not a regular file`);
    if (info.size > options.maxBytes) throw tooLarge(options, shown);
    // Read one byte past the limit: a file growing while it is read is caught too.
    const buffer = Buffer.alloc(Math.min(info.size, options.maxBytes) + 1);
    let filled = 0;
    while (filled < buffer.length) {
      const bytesRead = readSync(fd, buffer, filled, buffer.length - filled, filled);
      if (bytesRead === 0) break;
      filled += bytesRead;
    }
    if (filled > options.maxBytes) throw tooLarge(options, shown);
    return { path: located, content: buffer.subarray(0, filled) };
  } finally {
    closeSync(fd);
  }
}

function tooLarge(options: ReadContextFileOptions, shown: string): BuildError {
  return new BuildError(options.tooLargeCode ?? 'INVALID_ARGUMENT',
    `${options.what} ${shown} is larger than the limit of ${options.maxBytes} bytes`);
}
