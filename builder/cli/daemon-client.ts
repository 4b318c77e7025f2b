/**
 * Finding a running `builder daemon` for builder's own CLI: `BUILDER_HOST` (unix:///path or tcp://host:port),
 * else the default socket when something answers on it. `--no-daemon`, or `--root` without BUILDER_HOST, stays embedded.
 */
import { statSync } from 'node:fs';
import http from 'node:http';
import { createConnection, type Socket } from 'node:net';
import { BuildError } from '../errors.js';
import { DEFAULT_DAEMON_SOCKET } from './daemon-socket.js';

export { DEFAULT_DAEMON_SOCKET };

export type DaemonTarget = { socketPath: string } | { host: string; port: number };

export function parseBuilderHost(value: string): DaemonTarget {
  if (value.startsWith('unix://')) return { socketPath: value.slice('unix://'.length) };
  const tcp = /^tcp:\/\/([^:/]+):(\d+)\/?$/.exec(value);
  if (tcp) return { host: tcp[1]!, port: Number(tcp[2]) };
  throw new BuildError('INVALID_ARGUMENT', `BUILDER_HOST="${value}": use unix:///path/to/docker.sock or tcp://host:port`);
}

/** The daemon to use, or undefined to build in this process. */
export function findDaemon(options: { noDaemon?: boolean; rootGiven?: boolean }, env: NodeJS.ProcessEnv = process.env): DaemonTarget | undefined {
  if (options.noDaemon) return undefined;
  if (env.BUILDER_HOST) return parseBuilderHost(env.BUILDER_HOST);
  // An explicit store means this store; the default daemon may serve another one.
  if (options.rootGiven || env.BUILDER_ROOT) return undefined;
  try {
    return statSync(DEFAULT_DAEMON_SOCKET).isSocket() ? { socketPath: DEFAULT_DAEMON_SOCKET } : undefined;
  } catch {
    return undefined;
  }
}

/**
 * A request to the daemon; the caller writes the body and reads the response. Its own connection, no agent: a CLI
 * call makes one request or two, and http's agent works out a TLS servername for every socket it opens, compiling
 * net's IPv6 regex on the way (~3.5 ms of CPU per call, a tenth of a no-op rebuild's client side).
 */
export function daemonRequest(target: DaemonTarget, method: string, path: string, headers: Record<string, string>): http.ClientRequest {
  const connect = (): Socket => ('socketPath' in target ? createConnection(target.socketPath) : createConnection(target.port, target.host));
  return http.request({ method, path, headers: { Host: 'builder', ...headers }, createConnection: connect });
}

export function unreachable(target: DaemonTarget, err: Error): BuildError {
  const where = 'socketPath' in target ? `unix://${target.socketPath}` : `tcp://${target.host}:${target.port}`;
  return new BuildError('INTERNAL', `cannot reach builder daemon at ${where}: ${err.message} (is it running? --no-daemon builds in this process)`, { cause: err });
}
