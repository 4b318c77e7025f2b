/**
 * `builder serve` (the farm API) and `builder worker` (a build worker). Both read the config file
 * (--config, else BUILDER_CONFIG) and take --redis (env BUILDER_REDIS_URL); they run until SIGTERM/SIGINT.
 * The farm modules are imported lazily so the rest of the CLI never loads fastify or BullMQ.
 */
import type { Command } from 'commander';
import { BuildError } from '../errors.js';
import type { GlobalOptions } from './options.js';
import { parsePositiveInt } from './options.js';

interface FarmFlags {
  config?: string;
  redis?: string;
  queue?: string;
}

/** SIGHUP too: a closed terminal must drain like a stop, not kill the process with its builds' containers. */
const STOP_SIGNALS: NodeJS.Signals[] = ['SIGTERM', 'SIGINT', 'SIGHUP'];

/** Resolves on the first SIGTERM, SIGINT or SIGHUP. */
function untilSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const handler = (signal: NodeJS.Signals): void => {
      for (const name of STOP_SIGNALS) process.off(name, handler);
      resolve(signal);
    };
    for (const name of STOP_SIGNALS) process.on(name, handler);
  });
}

async function loadFarm(flags: FarmFlags) {
  const { loadFarmConfig } = await import('../../api/farm-config.js');
  const env = { ...process.env };
  if (flags.redis) env.BUILDER_REDIS_URL = flags.redis;
  if (flags.queue) env.BUILDER_QUEUE = flags.queue;
  return loadFarmConfig(flags.config, env);
}

export function registerFarmCommands(program: Command): void {
  program.command('serve')
    .description('Run the build farm API (HTTP): builds, logs, webhooks, metrics')
    .option('-p, --port <port>', 'port to listen on (default [api] port, 8080)')
    .option('--host <addr>', 'address to bind (default [api] host, 0.0.0.0)')
    .option('--redis <url>', 'Redis URL (env BUILDER_REDIS_URL)')
    .option('--queue <name>', 'BullMQ queue name (default builds)')
    .option('--config <file>', 'config file (default $BUILDER_CONFIG)')
    .action(async (flags: FarmFlags & { port?: string; host?: string }) => {
      const { farm } = await loadFarm(flags);
      if (flags.port !== undefined) {
        if (!/^\d+$/.test(flags.port) || Number(flags.port) > 65535) throw new BuildError('INVALID_ARGUMENT', `invalid --port "${flags.port}"`);
        farm.api.port = Number(flags.port);
      }
      if (flags.host) farm.api.host = flags.host;
      if (farm.api.tokens.length === 0) process.stderr.write('WARNING: no API tokens configured (BUILDER_API_TOKENS or [api] tokens): every /v1 build route will answer 401\n');
      const { startServer } = await import('../../api/server.js');
      const server = await startServer(farm);
      process.stderr.write(`builder API listening on ${server.url} (queue ${farm.queue})\n`);
      await untilSignal();
      await server.close();
    });

  program.command('worker')
    .description('Run a build worker: takes builds from the queue, builds, pushes, publishes logs')
    .option('--redis <url>', 'Redis URL (env BUILDER_REDIS_URL)')
    .option('--queue <name>', 'BullMQ queue name (default builds)')
    .option('--concurrency <n>', 'builds at once (default [worker] concurrency, 1)')
    .option('--cache-repo <host/repo>', 'share the layer cache across the farm: blobs in this registry repository, index in Redis (env BUILDER_CACHE_REPO)')
    .option('--config <file>', 'config file (default $BUILDER_CONFIG)')
    .action(async (flags: FarmFlags & { concurrency?: string; cacheRepo?: string }) => {
      // bin/builder set MALLOC_ARENA_MAX for this process (glibc read it at start); what the worker spawns (runc,
      // git, build steps' tools) gets the user's environment back.
      if (process.env.BUILDER_ARENA_DEFAULTED) {
        delete process.env.MALLOC_ARENA_MAX;
        delete process.env.BUILDER_ARENA_DEFAULTED;
      }
      const global = program.opts<GlobalOptions>();
      const { farm, builder } = await loadFarm(flags);
      const concurrency = parsePositiveInt(flags.concurrency, '--concurrency');
      if (concurrency) farm.worker.concurrency = concurrency;
      if (flags.cacheRepo) farm.worker.cacheRepo = flags.cacheRepo;
      const { createEngine } = await import('../engine.js');
      const cacheRepo = farm.worker.cacheRepo;
      const engine = await createEngine({
        root: global.root, config: builder,
        cache: cacheRepo ? { type: farm.worker.cacheMode, redisUrl: farm.redisUrl, repo: cacheRepo, maxRecords: farm.worker.cacheMaxRecords } : { type: 'local' },
      });
      const { startWorker } = await import('../../worker/main.js');
      const worker = await startWorker(farm, builder, engine);
      process.stderr.write(`builder worker ready (queue ${farm.queue}, concurrency ${farm.worker.concurrency}, store ${engine.store.root}${cacheRepo ? `, shared cache ${cacheRepo}` : ''})\n`);
      await untilSignal();
      // A second signal while draining ends the grace period: running builds are requeued at once.
      const hurry = (): void => worker.requeueRunning();
      for (const name of STOP_SIGNALS) process.once(name, hurry);
      try {
        await worker.drain();
      } finally {
        await engine.close();
        for (const name of STOP_SIGNALS) process.off(name, hurry);
      }
    });
}
