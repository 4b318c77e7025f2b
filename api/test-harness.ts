/**
 * Test harness for the farm suites (test code, not shipped behaviour): a real Redis, optionally a real
 * registry, a per-test queue, the API app (inject or a real socket), and worker child processes each
 * with its own BUILDER_ROOT holding the busybox fixture.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import tar from 'tar-stream';
import type { FastifyInstance } from 'fastify';
import { loadBusyboxFixture } from '../test/helpers/busybox-fixture.js';
import { cliMain } from '../test/helpers/cli.js';
import { startRedis, type RedisServer } from '../test/helpers/redis-server.js';
import { startRegistry, type RegistryServer } from '../test/helpers/registry-server.js';
import { makeTempDir, removeTempDir } from '../test/helpers/temp-root.js';
import { buildApp } from './app.js';
import { loadFarmConfig, type FarmConfig } from './farm-config.js';
import { farmContext } from './server.js';
import type { BuildRecord } from '../worker/build-records.js';

export const TOKENS = 'ci:ci-token,reader:read-token:read';
export const GITHUB_SECRET = 'gh-secret';
export const GITLAB_TOKEN = 'gl-token';
export const GITEA_SECRET = 'gitea-secret';
export const AUTH = { authorization: 'Bearer ci-token' };

export interface Harness {
  dir: string;
  redis: RedisServer;
  registry?: RegistryServer;
  queue: string;
  configFile: string;
  farm: FarmConfig;
  ctx: ReturnType<typeof farmContext>;
  app: FastifyInstance;
  /** Base URL once `listen()` was called. */
  url?: string;
  listen(): Promise<string>;
  startWorker(extraEnv?: Record<string, string>): Promise<ChildProcess>;
  waitFor(id: string, states: BuildRecord['state'][], timeoutMs?: number): Promise<BuildRecord>;
  close(): Promise<void>;
}

export interface HarnessOptions {
  registry?: boolean;
  config?: string | ((registryHost: string) => string);
  maxContextBytes?: number;
  /** The `[git]` section; by default file:// is allowed below the harness dir and the fake paths the tests use. */
  git?: string;
  /** Redis with an fsynced append-only file, so `redis.restart()` loses nothing. */
  persistentRedis?: boolean;
}

export async function startHarness(options: HarnessOptions = {}): Promise<Harness> {
  const dir = await makeTempDir('farm');
  let redis: RedisServer | undefined;
  let registry: RegistryServer | undefined;
  try {
    redis = await startRedis({ persist: options.persistentRedis });
    if (options.registry) registry = await startRegistry();
    return await harnessWith(dir, redis, registry, options);
  } catch (err) {
    await registry?.stop();
    await redis?.stop();
    await removeTempDir(dir);
    throw err;
  }
}

async function harnessWith(
  dir: string, redis: RedisServer, registry: RegistryServer | undefined, options: HarnessOptions = {},
): Promise<Harness> {
  const queue = `test-${randomUUID()}`;
  const configFile = path.join(dir, 'builder.toml');
  const lines = [
    '[worker]', 'stalled_interval_ms = 1000', 'lock_duration_ms = 4000', 'grace_period_ms = 2000', 'attempts = 2',
    '[api]', `max_context_bytes = ${options.maxContextBytes ?? 8 * 1024 * 1024}`,
    ...(registry ? [`[registry."${registry.host}"]`, 'http = true'] : []),
    options.git ?? `[git]\nschemes = ["https", "ssh", "file"]\nfile_paths = ["${dir}", "/nonexistent", "/x"]`,
    typeof options.config === 'function' ? options.config(registry?.host ?? '') : (options.config ?? ''),
  ];
  await writeFile(configFile, lines.join('\n') + '\n');
  const env = { BUILDER_API_TOKENS: TOKENS, BUILDER_GITHUB_WEBHOOK_SECRET: GITHUB_SECRET, BUILDER_GITLAB_WEBHOOK_TOKEN: GITLAB_TOKEN, BUILDER_GITEA_WEBHOOK_SECRET: GITEA_SECRET, BUILDER_REDIS_URL: redis.url, BUILDER_QUEUE: queue };
  const { farm } = await loadFarmConfig(configFile, env);
  const ctx = farmContext(farm);
  const app = await buildApp(ctx);
  const workers: { child: ChildProcess; root: string; log: () => string }[] = [];
  let workerCount = 0;
  const harness: Harness = {
    dir, redis, registry, queue, configFile, farm, ctx, app,
    async listen() {
      harness.url = await app.listen({ host: '127.0.0.1', port: 0 });
      return harness.url;
    },
    async startWorker(extraEnv = {}) {
      const root = path.join(dir, `worker-${workerCount++}`);
      await mkdir(root);
      await loadBusyboxFixture(root, dir);
      const child = spawn(process.execPath, [cliMain, 'worker', '--redis', redis.url, '--queue', queue, '--config', configFile], {
        env: { ...process.env, ...env, BUILDER_ROOT: root, ...extraEnv }, stdio: ['ignore', 'ignore', 'pipe'],
      });
      let log = '';
      child.stderr?.on('data', (chunk: Buffer) => (log += chunk.toString()));
      workers.push({ child, root, log: () => log });
      const deadline = Date.now() + 20_000;
      while (!log.includes('builder worker ready')) {
        if (child.exitCode !== null || Date.now() > deadline) throw new Error(`worker did not start: ${log}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      return child;
    },
    async waitFor(id, states, timeoutMs = 60_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const record = await ctx.records.get(id);
        if (record && states.includes(record.state)) return record;
        if (Date.now() > deadline) {
          // The workers' own logs say why a build hung; keep their tails in the failure.
          const logs = workers.map((worker, index) => `--- worker ${index} stderr (tail) ---\n${worker.log().slice(-4000)}`).join('\n');
          throw new Error(`build ${id} did not reach ${states.join('|')}: ${JSON.stringify(record)}\n${logs}`);
        }
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    },
    async close() {
      for (const { child } of workers) {
        if (child.exitCode === null && child.signalCode === null) {
          const exited = new Promise((resolve) => child.once('exit', resolve));
          child.kill('SIGKILL');
          await exited;
        }
      }
      await app.close();
      await ctx.queue.obliterate({ force: true }).catch(() => undefined);
      await ctx.records.destroy().catch(() => undefined);
      await ctx.close();
      await registry?.stop();
      await redis.stop();
      // Killed workers leave their RUNs' build-network attachments and the build firewall chains (host-wide iptables).
      const { cleanupBuildNetwork } = await import('../builder/network/build-network.js');
      for (const { root } of workers) await cleanupBuildNetwork(root).catch(() => undefined);
      await removeTempDir(dir);
    },
  };
  return harness;
}

/** A tar (uncompressed) of `files`: name → content. */
export async function tarOf(files: Record<string, string>): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  pack.on('data', (chunk: unknown) => { chunks.push(chunk as Buffer); });
  const ended = new Promise<void>((resolve) => pack.on('end', () => resolve()));
  for (const [name, content] of Object.entries(files)) pack.entry({ name, mode: 0o644 }, content);
  pack.finalize();
  await ended;
  return Buffer.concat(chunks);
}

/** A git repository with one commit of `files`; returns its file:// URL and the commit sha. */
export async function gitRepo(dir: string, files: Record<string, string>, branch = 'main'): Promise<{ url: string; sha: string; dir: string }> {
  await mkdir(dir, { recursive: true });
  const git = (...args: string[]): string => execFileSync('git', ['-C', dir, '-c', 'user.name=t', '-c', 'user.email=t@example.com', ...args], { encoding: 'utf8' }).trim();
  git('init', '-q', '-b', branch);
  for (const [name, content] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(dir, name)), { recursive: true });
    await writeFile(path.join(dir, name), content);
  }
  git('add', '.');
  git('commit', '-q', '-m', 'initial');
  return { url: `file://${dir}`, sha: git('rev-parse', 'HEAD'), dir };
}
