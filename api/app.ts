/**
 * The API as a fastify app (built without listening, so tests use `app.inject`): auth, the error body,
 * the OpenAPI document at /docs/json, and the route plugins.
 */
import swagger from '@fastify/swagger';
import type { Queue } from 'bullmq';
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import type { Redis } from 'ioredis';
import type { BuildRequest } from '../builder/request.js';
import type { BuildRecords } from '../worker/build-records.js';
import { errorHandler } from './errors.js';
import type { FarmConfig } from './farm-config.js';
import { buildsRoutes } from './routes/builds.js';
import { healthRoutes } from './routes/health.js';
import { logsRoutes } from './routes/logs.js';
import { webhookRoutes } from './routes/webhooks.js';
import { webRoutes } from './routes/web.js';

/** What every route reads: the config and the shared Redis state. */
export interface FarmContext {
  farm: FarmConfig;
  redis: Redis;
  records: BuildRecords;
  queue: Queue<BuildRequest>;
}

const TAR_TYPES = ['application/x-tar', 'application/tar', 'application/gzip', 'application/x-gzip', 'application/octet-stream'];

export async function buildApp(ctx: FarmContext, options: { logger?: FastifyServerOptions['logger'] } = {}): Promise<FastifyInstance> {
  const app = Fastify({
    logger: options.logger ?? false,
    // Unknown fields are errors, not silently dropped; `?t=a` and `?t=a&t=b` both give arrays.
    ajv: { customOptions: { removeAdditional: false, coerceTypes: 'array', useDefaults: true } },
  });
  app.setErrorHandler(errorHandler(ctx.farm.api.maxContextBytes));
  app.setNotFoundHandler((request, reply) => {
    void reply.code(404).send({ statusCode: 404, code: 'NOT_FOUND', message: `no route ${request.method} ${request.url.split('?')[0]}` });
  });
  await app.register(swagger, {
    openapi: {
      info: { title: 'builder farm API', version: '1' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    },
  });
  app.addContentTypeParser(TAR_TYPES, { parseAs: 'buffer', bodyLimit: ctx.farm.api.maxContextBytes }, (_request, body, done) => done(null, body));

  await app.register(async (scope) => { await buildsRoutes(scope, ctx); });
  await app.register(async (scope) => { await logsRoutes(scope, ctx); });
  await app.register(async (scope) => { await webhookRoutes(scope, ctx); });
  await app.register(async (scope) => { await healthRoutes(scope, ctx); });
  await app.register(async (scope) => { await webRoutes(scope, ctx); });
  app.get('/docs/json', { schema: { hide: true } }, async () => app.swagger());
  return app;
}
