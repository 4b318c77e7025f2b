/** `/healthz` (the process answers), `/readyz` (Redis answers), `/metrics` (Prometheus), `/queue-depth` (JSON, for the autoscaler). No auth: probes and scrapers. */
import type { FastifyInstance } from 'fastify';
import type { FarmContext } from '../app.js';
import { FarmMetrics, queueDepth } from '../metrics.js';

const READY_TIMEOUT_MS = 1000;

export async function healthRoutes(app: FastifyInstance, ctx: FarmContext): Promise<void> {
  const metrics = new FarmMetrics(ctx.records, ctx.queue);
  await metrics.start().catch(() => undefined); // Redis may come later; the first scrape retries

  app.get('/healthz', { schema: { summary: 'Liveness' } }, async () => ({ status: 'ok' }));

  app.get('/readyz', { schema: { summary: 'Readiness: Redis reachable' } }, async (_request, reply) => {
    const ping = ctx.redis.ping();
    const timeout = new Promise<never>((_, reject) => setTimeout(() => reject(new Error('timed out')), READY_TIMEOUT_MS).unref());
    try {
      await Promise.race([ping, timeout]);
      return { status: 'ready' };
    } catch (err) {
      ping.catch(() => undefined);
      return reply.code(503).send({ statusCode: 503, code: 'REDIS_UNAVAILABLE', message: `Redis is not reachable: ${(err as Error).message}` });
    }
  });

  // For KEDA's metrics-api scaler (k8s/autoscaling.yaml): no Prometheus needed between the queue and the scaler.
  app.get('/queue-depth', { schema: { summary: 'Jobs that need a worker: waiting + prioritized + due delayed + active' } }, async () => queueDepth(ctx.queue));

  app.get('/metrics', { schema: { summary: 'Prometheus metrics', produces: ['text/plain'] } }, async (_request, reply) => {
    const { contentType, body } = await metrics.render();
    return reply.type(contentType).send(body);
  });
}
