/**
 * docker's `-H` addresses: `unix:///run/builder/docker.sock` (0660, root and an optional group), `tcp://host:port`
 * (off loopback only with TLS client certificates or a token), `fd://` (systemd socket activation).
 */
import { timingSafeEqual, createHash } from 'node:crypto';
import { chmodSync, chownSync, readFileSync } from 'node:fs';
import { mkdir, rm, stat } from 'node:fs/promises';
import { createConnection, isIP } from 'node:net';
import https from 'node:https';
import type { Server } from 'node:http';
import path from 'node:path';
import { BuildError } from '../../builder/errors.js';

export type ListenAddress =
  | { kind: 'unix'; path: string }
  | { kind: 'tcp'; host: string; port: number }
  | { kind: 'fd'; fd: number };

export const DEFAULT_SOCKET = '/run/builder/docker.sock';

export function parseHost(spec: string): ListenAddress {
  if (spec.startsWith('unix://')) {
    const socketPath = spec.slice('unix://'.length) || DEFAULT_SOCKET;
    if (!path.isAbsolute(socketPath)) throw new BuildError('INVALID_ARGUMENT', `-H ${spec}: the socket path must be absolute`);
    return { kind: 'unix', path: socketPath };
  }
  if (spec.startsWith('tcp://')) {
    const match = /^tcp:\/\/(\[[^\]]+\]|[^:/]*)(?::(\d+))?\/?$/.exec(spec);
    if (!match) throw new BuildError('INVALID_ARGUMENT', `-H ${spec}: expected tcp://HOST:PORT`);
    const host = match[1]!.replace(/^\[|\]$/g, '') || '127.0.0.1';
    const port = match[2] ? Number(match[2]) : 2375;
    if (port < 1 || port > 65535) throw new BuildError('INVALID_ARGUMENT', `-H ${spec}: port ${port} is out of range`);
    return { kind: 'tcp', host, port };
  }
  if (spec === 'fd://' || /^fd:\/\/\d+$/.test(spec)) {
    // systemd passes the first socket as fd 3 (LISTEN_FDS); `fd://N` names another.
    return { kind: 'fd', fd: spec === 'fd://' ? 3 : Number(spec.slice(5)) };
  }
  throw new BuildError('INVALID_ARGUMENT', `-H ${spec}: use unix:///path, tcp://host:port or fd://`);
}

export function isLoopback(host: string): boolean {
  if (host === 'localhost') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  return host === '::1';
}

export interface TlsFiles {
  ca: string;
  cert: string;
  key: string;
}

/** An HTTPS server that demands a client certificate signed by `ca` (docker's --tlsverify). */
export function tlsServerFactory(files: TlsFiles): (handler: Parameters<typeof https.createServer>[1]) => Server {
  const options = { ca: readFileSync(files.ca), cert: readFileSync(files.cert), key: readFileSync(files.key), requestCert: true, rejectUnauthorized: true };
  return (handler) => https.createServer(options, handler) as unknown as Server;
}

/** Constant-time check of `Authorization: Bearer <token>`. */
export function bearerCheck(token: string): (header: string | undefined) => boolean {
  const want = createHash('sha256').update(token).digest();
  return (header) => {
    const match = /^Bearer (.+)$/i.exec(header ?? '');
    return match !== null && timingSafeEqual(createHash('sha256').update(match[1]!).digest(), want);
  };
}

/** A stale socket file (nobody answers) is removed; a live one means another daemon is running. */
async function clearStaleSocket(socketPath: string): Promise<void> {
  const info = await stat(socketPath).catch(() => undefined);
  if (!info) return;
  if (!info.isSocket()) throw new BuildError('CONFLICT', `${socketPath} exists and is not a socket; remove it or choose another -H`);
  const alive = await new Promise<boolean>((resolve) => {
    const probe = createConnection(socketPath, () => { probe.destroy(); resolve(true); });
    probe.on('error', () => resolve(false));
  });
  if (alive) throw new BuildError('CONFLICT', `another daemon is already listening on ${socketPath}`);
  await rm(socketPath, { force: true });
}

function groupId(group: string): number {
  if (/^\d+$/.test(group)) return Number(group);
  const line = readFileSync('/etc/group', 'utf8').split('\n').find((l) => l.split(':')[0] === group);
  if (!line) throw new BuildError('INVALID_ARGUMENT', `--group ${group}: no such group in /etc/group`);
  return Number(line.split(':')[2]);
}

/** Binds `server` to the address; a unix socket is created 0660 (never briefly wider) and owned root:group. */
export async function listenOn(server: Server, address: ListenAddress, group?: string): Promise<void> {
  const listen = (arg: Parameters<Server['listen']>[0]): Promise<void> => new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(arg, () => { server.off('error', reject); resolve(); });
  });
  if (address.kind === 'tcp') return listen({ host: address.host, port: address.port });
  if (address.kind === 'fd') return listen({ fd: address.fd });
  await mkdir(path.dirname(address.path), { recursive: true, mode: 0o755 });
  await clearStaleSocket(address.path);
  const previous = process.umask(0o117);
  try {
    await listen({ path: address.path });
  } finally {
    process.umask(previous);
  }
  chmodSync(address.path, 0o660);
  if (process.getuid?.() === 0) chownSync(address.path, 0, group ? groupId(group) : 0);
}
