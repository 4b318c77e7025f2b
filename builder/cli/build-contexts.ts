/**
 * Where a build's files come from, as `docker build` takes them: the positional context (a directory, or `-`
 * for stdin), `-f -` (the Dockerfile from stdin), and `--build-context name=…` named contexts.
 */
import { rmSync } from 'node:fs';
import { mkdir, mkdtemp, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { resolveContext, type ResolvedContext } from '../context/context-dir.js';
import { BuildError } from '../errors.js';
import type { NamedContext } from '../solver/named-context.js';

/** Reads all of stdin (a Dockerfile or a context archive). */
export async function readStdin(stream: NodeJS.ReadableStream = process.stdin): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
  return Buffer.concat(chunks);
}

/** A temp dir removed when the process exits (the error excerpt may still read a stdin Dockerfile after the build). */
async function exitScopedTempDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), `${prefix}-`));
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/**
 * Resolves the positional context and `-f`, reading stdin where either is `-`:
 * `build -f - DIR` takes the Dockerfile from stdin and DIR as context; `build -` takes stdin as a context
 * archive (tar, optionally compressed) when it is one, else as a Dockerfile with an empty context.
 */
export async function resolveBuildContext(
  contextArg: string, fileArg: string | undefined, readInput: () => Promise<Buffer> = () => readStdin(),
): Promise<ResolvedContext> {
  if (contextArg !== '-' && fileArg !== '-') return resolveContext(contextArg, fileArg);
  if (contextArg === '-' && fileArg === '-') {
    throw new BuildError('INVALID_ARGUMENT', 'invalid argument: can\'t use stdin for both build context and dockerfile');
  }
  const input = await readInput();
  // The archive reader (zlib, tar) loads for stdin contexts only, not for every build.
  const { detectArchive, extractArchive } = await import('../context/archive.js');
  const scratch = await exitScopedTempDir('builder-stdin');
  if (fileArg === '-') {
    const resolved = await resolveContext(contextArg);
    const dockerfilePath = path.join(scratch, 'Dockerfile');
    await writeFile(dockerfilePath, input);
    return { contextDir: resolved.contextDir, dockerfilePath, dockerfileName: 'Dockerfile' };
  }
  const contextDir = path.join(scratch, 'context');
  const received = path.join(scratch, 'stdin');
  await writeFile(received, input);
  const kind = await detectArchive(received);
  await mkdir(contextDir);
  if (!kind) return { contextDir, dockerfilePath: received, dockerfileName: 'Dockerfile' };
  await extractArchive(received, kind, contextDir, '/');
  return resolveContext(contextDir, fileArg === undefined ? undefined : path.join(contextDir, fileArg));
}

/**
 * `--build-context name=VALUE`: VALUE is a local directory (relative to the current directory) or
 * `docker-image://ref`. Git and URL contexts are not supported.
 */
export async function parseBuildContexts(values: string[], cwd: string = process.cwd()): Promise<Record<string, NamedContext>> {
  const contexts: Record<string, NamedContext> = {};
  for (const value of values) {
    const eq = value.indexOf('=');
    const name = eq < 0 ? '' : value.slice(0, eq).toLowerCase();
    const target = eq < 0 ? '' : value.slice(eq + 1);
    if (name === '' || target === '') {
      throw new BuildError('INVALID_ARGUMENT', `invalid --build-context "${value}": want NAME=PATH or NAME=docker-image://REF`);
    }
    if (name === 'context' || name === 'scratch') throw new BuildError('INVALID_ARGUMENT', `invalid --build-context name "${name}": it is reserved`);
    if (target.startsWith('docker-image://')) {
      const ref = target.slice('docker-image://'.length);
      if (ref === '') throw new BuildError('INVALID_ARGUMENT', `invalid --build-context "${value}": docker-image:// needs an image reference`);
      contexts[name] = { image: ref };
      continue;
    }
    if (/^[a-z][a-z0-9+.-]*:\/\//i.test(target) || target.startsWith('git@')) {
      throw new BuildError('INVALID_ARGUMENT', `--build-context ${name}: only local directories and docker-image:// are supported, not ${target}`);
    }
    const dir = path.resolve(cwd, target);
    const info = await stat(dir).catch(() => undefined);
    if (!info?.isDirectory()) throw new BuildError('INVALID_ARGUMENT', `--build-context ${name}: "${target}" is not a directory`);
    contexts[name] = { dir };
  }
  return contexts;
}

/** `--label k=v` (repeatable); `k` alone sets an empty value, as docker does. */
export function parseLabels(values: string[]): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const value of values) {
    const eq = value.indexOf('=');
    const key = eq < 0 ? value : value.slice(0, eq);
    if (key === '') throw new BuildError('INVALID_ARGUMENT', `invalid --label "${value}": want KEY=VALUE`);
    labels[key] = eq < 0 ? '' : value.slice(eq + 1);
  }
  return labels;
}
