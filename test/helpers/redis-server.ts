/**
 * A real Redis (Debian's /usr/bin/redis-server) for tests: a free loopback port, no persistence, a temp dir.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createConnection } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { freePort } from './registry-server.js';

const REDIS_BINARY = '/usr/bin/redis-server';

/** A running test Redis. */
export interface RedisServer {
  /** `redis://127.0.0.1:PORT` */
  url: string;
  port: number;
  /** Kills Redis and removes its temp dir. Idempotent. */
  stop(): Promise<void>;
  /** SIGKILLs Redis and starts it again on the same port and dir (with `persist`, the data survives). */
  restart(): Promise<void>;
}

export interface RedisOptions {
  /** Append-only file, fsync on every write: what a farm's Redis runs with, so a restart loses no job. */
  persist?: boolean;
}

/** Answers when `PING` gets `+PONG`. */
function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    let reply = '';
    socket.setTimeout(500, () => socket.destroy());
    socket.on('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk) => {
      reply += chunk.toString();
      if (reply.includes('\r\n')) {
        socket.end();
        resolve(reply.startsWith('+PONG'));
      }
    });
    socket.on('error', () => resolve(false));
    socket.on('close', () => resolve(false));
  });
}

export async function startRedis(options: RedisOptions = {}): Promise<RedisServer> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'redis-'));
  const port = await freePort();
  let output = '';
  const persistence = options.persist ? ['--appendonly', 'yes', '--appendfsync', 'always'] : ['--appendonly', 'no'];
  const launch = (): ChildProcess => {
    const started = spawn(REDIS_BINARY, [
      '--port', String(port), '--bind', '127.0.0.1', '--save', '', ...persistence, '--dir', dir,
      '--protected-mode', 'yes', '--loglevel', 'warning',
    ], { stdio: ['ignore', 'pipe', 'pipe'] });
    started.stdout?.on('data', (chunk: Buffer) => (output = (output + chunk.toString()).slice(-4000)));
    started.stderr?.on('data', (chunk: Buffer) => (output = (output + chunk.toString()).slice(-4000)));
    return started;
  };
  let child = launch();
  let stopped = false;
  const kill = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGKILL');
      await exited;
    }
  };
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    await kill();
    await rm(dir, { recursive: true, force: true });
  };
  const waitReady = async (): Promise<void> => {
    const deadline = Date.now() + 10_000;
    while (!(await ping(port))) {
      if (child.exitCode !== null || Date.now() > deadline) {
        await stop();
        throw new Error(`redis-server on port ${port} did not start: ${output}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 30));
    }
  };
  await waitReady();
  const restart = async (): Promise<void> => {
    await kill();
    child = launch();
    await waitReady();
  };
  return { url: `redis://127.0.0.1:${port}`, port, stop, restart };
}
