/**
 * builder's own CLI on the daemon's machine names its context directory instead of uploading it as a tar: the
 * daemon then builds from that directory exactly as an embedded `builder build` does (.dockerignore applied by
 * the engine, content hashes kept by inode across builds, no copy), which is what makes a no-op rebuild through
 * the daemon a few milliseconds of work instead of a tar, an unpack into a temp dir and a fresh hash of every file.
 * BuildKit's filesync does the same job by sending only what changed.
 *
 * Only over a unix socket (a TCP client is another machine as far as paths go), and only when the directory the
 * daemon sees is the one the client saw: the client sends its `dev:ino`, so a client in another mount namespace
 * (a container with the socket mounted) gets a 409 and sends the tar instead. Who can reach the socket is root
 * here already (docker's rule: the socket is root-equivalent), so reading a directory it names gives nothing new.
 */
import { stat } from 'node:fs/promises';
import path from 'node:path';
import type { FastifyRequest } from 'fastify';
import { conflict } from './errors.js';

export const CONTEXT_DIR_HEADER = 'x-builder-context-dir';
export const CONTEXT_ID_HEADER = 'x-builder-context-id';

/** The directory to build from, or undefined when the request carries a tar (or a git remote) as usual. */
export async function namedContextDir(request: FastifyRequest): Promise<string | undefined> {
  const raw = request.headers[CONTEXT_DIR_HEADER];
  if (typeof raw !== 'string' || raw === '') return undefined;
  // remoteAddress is undefined on a unix socket (and a systemd fd:// one); TCP and TLS peers have an address.
  if (request.raw.socket.remoteAddress !== undefined) throw conflict('a context directory can be named only over the unix socket: send the context as a tar');
  let dir: string;
  try {
    dir = decodeURIComponent(raw);
  } catch {
    throw conflict('the context directory header is not URI-encoded: send the context as a tar');
  }
  const info = path.isAbsolute(dir) ? await stat(dir).catch(() => undefined) : undefined;
  if (!info?.isDirectory() || `${info.dev}:${info.ino}` !== request.headers[CONTEXT_ID_HEADER]) {
    throw conflict(`the daemon does not see the context directory ${dir} the client does: send the context as a tar`);
  }
  return dir;
}
