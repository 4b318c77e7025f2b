/**
 * A `builder daemon` for tests: its own temp store (busybox loaded), a unix socket in a temp dir, and the real
 * docker CLI 28 pointed at it (DOCKER_HOST, DOCKER_BUILDKIT=0, a temp DOCKER_CONFIG). Never the machine's dockerd.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { cliMain, runCommand, type CliResult } from './cli.js';
import { makeFixtureRoot } from './busybox-fixture.js';
import { makeTempDir, removeTempDir } from './temp-root.js';

export const DOCKER_CLI = '/usr/local/bin/docker';

/** Why these tests cannot run here, or undefined. */
export function daemonSkipReason(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root (builds run runc)';
  if (!existsSync(DOCKER_CLI)) return `${DOCKER_CLI} (docker CLI 28) is not installed`;
  return undefined;
}

/** daemonSkipReason, and conmon for tests that run monitored containers. */
export function containerDaemonSkipReason(): string | undefined {
  return daemonSkipReason() ?? (existsSync('/usr/bin/conmon') ? undefined : 'conmon is not installed (scripts/setup.sh)');
}

export interface TestDaemon {
  root: string;
  dir: string;
  socket: string;
  env: Record<string, string>;
  child: ChildProcess;
  log(): string;
  /** Runs the docker CLI against this daemon. */
  docker(args: string[], options?: { input?: string; timeoutMs?: number }): Promise<CliResult>;
  /** A raw request on the socket; resolves with status, headers and body. */
  request(method: string, urlPath: string, options?: { body?: string | Buffer; headers?: Record<string, string> }): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }>;
  /** SIGTERM; resolves with the exit code. Idempotent. */
  stop(): Promise<number | null>;
}

async function waitForSocket(socket: string, child: ChildProcess, log: () => string): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`builder daemon exited with ${child.exitCode}: ${log()}`);
    const ok = await new Promise<boolean>((resolve) => {
      const req = http.get({ socketPath: socket, path: '/_ping' }, (res) => { res.resume(); resolve(res.statusCode === 200); });
      req.on('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`builder daemon did not answer /_ping within 20 s: ${log()}`);
}

export async function startTestDaemon(prefix: string, extraArgs: string[] = []): Promise<TestDaemon> {
  const dir = await makeTempDir(`${prefix}-sock`);
  const root = await makeFixtureRoot(prefix, dir);
  const socket = path.join(dir, 'docker.sock');
  await mkdir(path.join(dir, 'docker-config'), { recursive: true });
  const env = { DOCKER_HOST: `unix://${socket}`, DOCKER_BUILDKIT: '0', DOCKER_CONFIG: path.join(dir, 'docker-config'), DOCKER_CLI_HINTS: 'false' };
  const child = spawn(process.execPath, [cliMain, '--root', root, 'daemon', '-H', `unix://${socket}`, '--log-level', 'warn', ...extraArgs], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, BUILDER_ROOT: root },
  });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const log = (): string => output.slice(-4000);
  await waitForSocket(socket, child, log);
  let stopping: Promise<number | null> | undefined;
  return {
    root, dir, socket, env, child, log,
    docker: (args, options = {}) => runCommand(DOCKER_CLI, args, { env, input: options.input, timeoutMs: options.timeoutMs }),
    request: (method, urlPath, options = {}) => new Promise((resolve, reject) => {
      const req = http.request({ socketPath: socket, path: urlPath, method, headers: options.headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      });
      req.on('error', reject);
      req.end(options.body);
    }),
    stop: () => {
      stopping ??= (async () => {
        if (child.exitCode === null) {
          const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
          child.kill('SIGTERM');
          const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
          const code = await exited;
          clearTimeout(timer);
          await removeTempDir(root);
          await removeTempDir(dir);
          return code;
        }
        await removeTempDir(root);
        await removeTempDir(dir);
        return child.exitCode;
      })();
      return stopping;
    },
  };
}

/**
 * The context both client tests build (daemon-clients, daemon-client-path): `Dockerfile` fails at its last RUN,
 * `Dockerfile.ok` succeeds; both COPY `a` and print it. Returns the context directory.
 */
export async function writeClientContext(daemonDir: string): Promise<string> {
  const ctxDir = path.join(daemonDir, 'ctx');
  await mkdir(ctxDir, { recursive: true });
  await writeFile(path.join(ctxDir, 'Dockerfile'), 'FROM busybox\nCOPY a /a\nRUN cat /a\nRUN false\n');
  await writeFile(path.join(ctxDir, 'Dockerfile.ok'), 'FROM busybox\nCOPY a /a\nRUN cat /a\n');
  await writeFile(path.join(ctxDir, 'a'), 'from-a\n');
  return ctxDir;
}
