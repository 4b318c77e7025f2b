/**
 * `GET /v1/builds/:id/logs`: Server-Sent Events of the build's BuildEvents. Replays the Redis stream from
 * the start (or after `Last-Event-ID`), then follows it live, and ends after `build.done`.
 * Each SSE event: `id:` the stream id, `event:` the BuildEvent type, `data:` the BuildEvent JSON.
 */
import type { FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import type { BuildEvent } from '../../builder/events.js';
import { isTerminal } from '../../worker/build-records.js';
import type { FarmContext } from '../app.js';
import { requireScope } from '../auth.js';
import { ApiError } from '../errors.js';
import { BuildIdParams } from '../schemas.js';

const STREAM_ID = /^\d+-\d+$/;
const BLOCK_MS = 15_000;

export async function logsRoutes(app: FastifyInstance, ctx: FarmContext): Promise<void> {
  const { farm, records } = ctx;
  app.get('/v1/builds/:id/logs', {
    preHandler: requireScope(farm.api.tokens, 'read'),
    schema: {
      summary: 'Server-Sent Events of BuildEvents: replay, then live; Last-Event-ID resumes', security: [{ bearer: [] }], params: BuildIdParams,
      produces: ['text/event-stream'],
    },
  }, async (request, reply) => {
    const { id } = request.params as { id: string };
    if (!(await records.get(id))) throw new ApiError(404, 'NOT_FOUND', `no build ${id}`);
    const lastEventId = request.headers['last-event-id'];
    let after = typeof lastEventId === 'string' && STREAM_ID.test(lastEventId) ? lastEventId : '0';
    reply.hijack();
    const raw = reply.raw;
    raw.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive', 'x-accel-buffering': 'no' });
    raw.write(': builder build logs\n\n');
    let closed = false;
    // XREAD BLOCK holds its connection: each follower gets its own, closed with the response.
    let follower: Redis | undefined;
    request.raw.on('close', () => {
      closed = true;
      follower?.disconnect();
    });
    const send = (streamId: string, event: BuildEvent): void => {
      raw.write(`id: ${streamId}\nevent: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`);
    };
    try {
      for (;;) {
        const entries = await records.eventsAfter(id, after);
        for (const { streamId, event } of entries) {
          send(streamId, event);
          after = streamId;
          if (event.type === 'build.done') return;
        }
        if (closed) return;
        if (entries.length > 0) continue;
        const record = await records.get(id);
        // Finished with its stream gone (expired): nothing more will come.
        if (!record || (isTerminal(record.state) && (await records.eventsAfter(id, after, 1)).length === 0 && Date.now() - (record.finishedAt ?? 0) > 5000)) return;
        follower ??= ctx.redis.duplicate();
        await follower.xread('BLOCK', BLOCK_MS, 'STREAMS', records.eventsKey(id), after).catch(() => undefined);
        if (!closed) raw.write(': keep-alive\n\n');
      }
    } catch (err) {
      request.log.error({ err }, 'log stream failed');
    } finally {
      follower?.disconnect();
      raw.end();
    }
  });
}
