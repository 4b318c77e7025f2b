/** `builder serve`: the API on a port, with its Redis connection and queue; `close()` releases all of it. */
import { Queue } from 'bullmq';
import type { FastifyInstance } from 'fastify';
import type { BuildRequest } from '../builder/request.js';
import { BuildRecords } from '../worker/build-records.js';
import { duplicateFarmRedis, farmRedis } from '../worker/farm-redis.js';
import { buildApp, type FarmContext } from './app.js';
import { requestSerializers } from './log-redact.js';
import type { FarmConfig } from './farm-config.js';

/** A running API. */
export interface FarmServer {
  app: FastifyInstance;
  ctx: FarmContext;
  /** `http://host:port` actually bound (port 0 picks a free one). */
  url: string;
  close(): Promise<void>;
}

const defaultWarn = (message: string): void => { process.stderr.write(`builder-api: ${message}\n`); };

/** The shared state without a server (tests use it with `app.inject`). */
export function farmContext(farm: FarmConfig, warn: (message: string) => void = defaultWarn): FarmContext & { close(): Promise<void> } {
  const redis = farmRedis(farm.redisUrl, warn);
  const queueConnection = duplicateFarmRedis(redis, warn);
  const queue = new Queue<BuildRequest>(farm.queue, { connection: queueConnection });
  return {
    farm, redis, queue, records: new BuildRecords(redis, farm.queue),
    async close() {
      await queue.close().catch(() => undefined);
      await queueConnection.quit().catch(() => undefined);
      await redis.quit().catch(() => undefined);
    },
  };
}

export async function startServer(farm: FarmConfig, options: { logger?: boolean } = {}): Promise<FarmServer> {
  const ctx = farmContext(farm);
  // Build arg values never reach the log (api/log-redact.ts).
  const app = await buildApp(ctx, { logger: (options.logger ?? true) ? { serializers: requestSerializers } : false });
  let address: string;
  try {
    address = await app.listen({ host: farm.api.host, port: farm.api.port });
  } catch (err) {
    await ctx.close();
    throw err;
  }
  return {
    app, ctx, url: address,
    async close() {
      await app.close();
      await ctx.close();
    },
  };
}
