/**
 * `GET /v1/builds/:id/logs`: Server-Sent Events of the build's BuildEvents. Replays the Redis stream from
 * the start (or after `Last-Event-ID`), then follows it live, and ends after `build.done`.
 * Each SSE event: `id:` the stream id, `event:` the BuildEvent type, `data:` the BuildEvent JSON.
 * `?format=text` (or `Accept: text/plain` without `text/event-stream`) gives the same events as BuildKit's plain
 * progress lines for `curl -N`, ending with the build's outcome; `?follow=false` ends at what is there now.
 */
import type { FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import type { BuildEvent } from '../../builder/events.js';
import { plainProgress } from '../../builder/cli/progress.js';
import { isTerminal, type BuildRecord } from '../../worker/build-records.js';
import type { FarmContext } from '../app.js';
import { requireScope } from '../auth.js';
import { ApiError } from '../errors.js';
import { BuildIdParams, LogsQuery } from '../schemas.js';

const STREAM_ID = /^\d+-\d+$/;
const BLOCK_MS = 15_000;

export async function logsRoutes(app: FastifyInstance, ctx: FarmContext): Promise<void> {
  const { farm, records } = ctx;
  app.get('/v1/builds/:id/logs', {
    preHandler: requireScope(farm.api.tokens, 'read'),
    schema: {
      summary: 'Server-Sent Events of BuildEvents: replay, then live; Last-Event-ID resumes; ?format=text for plain lines',
      security: [{ bearer: [] }], params: BuildIdParams, querystring: LogsQuery,
      produces: ['text/event-stream', 'text/plain'],
    },
  }, async (request, reply) => {
    const { id } = request.params as { id: string };
    const query = request.query as LogsQuery;
    if (!(await records.get(id))) throw new ApiError(404, 'NOT_FOUND', `no build ${id}`);
    const accept = String(request.headers.accept ?? '');
    const text = query.format === 'text' || (query.format === undefined && accept.includes('text/plain') && !accept.includes('text/event-stream'));
    const follow = query.follow ?? true;
    const lastEventId = request.headers['last-event-id'];
    let after = typeof lastEventId === 'string' && STREAM_ID.test(lastEventId) ? lastEventId : '0';
    reply.hijack();
    const raw = reply.raw;
    raw.writeHead(200, {
      'content-type': text ? 'text/plain; charset=utf-8' : 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache',
      connection: 'keep-alive', 'x-accel-buffering': 'no',
    });
    if (!text) raw.write(': builder build logs\n\n');
    const plain = text ? plainProgress((chunk) => raw.write(chunk)) : undefined;
    let closed = false;
    // XREAD BLOCK holds its connection: each follower gets its own, closed with the response.
    let follower: Redis | undefined;
    request.raw.on('close', () => {
      closed = true;
      follower?.disconnect();
    });
    const send = (streamId: string, event: BuildEvent): void => {
      if (plain) plain(event);
      else raw.write(`id: ${streamId}\nevent: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`);
    };
    try {
      for (;;) {
        const entries = await records.eventsAfter(id, after);
        for (const { streamId, event } of entries) {
          send(streamId, event);
          after = streamId;
          if (event.type === 'build.done') {
            if (text) raw.write(outcome(event, await records.get(id)));
            return;
          }
        }
        if (closed || !follow) return;
        if (entries.length > 0) continue;
        const record = await records.get(id);
        // Finished with its stream gone (expired): nothing more will come.
        if (!record || (isTerminal(record.state) && (await records.eventsAfter(id, after, 1)).length === 0 && Date.now() - (record.finishedAt ?? 0) > 5000)) {
          // The text mode still ends with the outcome, from the record.
          if (text && record) {
            raw.write(outcome({ type: 'build.done', durationMs: 0, time: record.finishedAt ?? 0, imageDigest: record.imageDigest, error: record.error }, record));
          }
          return;
        }
        follower ??= ctx.redis.duplicate();
        await follower.xread('BLOCK', BLOCK_MS, 'STREAMS', records.eventsKey(id), after).catch(() => undefined);
        if (!closed && !text) raw.write(': keep-alive\n\n');
      }
    } catch (err) {
      request.log.error({ err }, 'log stream failed');
    } finally {
      follower?.disconnect();
      raw.end();
    }
  });
}

/** The text mode's last lines: the error with its Dockerfile line, or the pushed references; then the state. */
function outcome(done: Extract<BuildEvent, { type: 'build.done' }>, record: BuildRecord | undefined): string {
  const lines: string[] = [];
  if (done.error) lines.push(`ERROR: ${done.error.line !== undefined ? `${record?.error?.file ?? record?.request.dockerfile ?? 'Dockerfile'}:${done.error.line}: ` : ''}${done.error.message} (${done.error.code})`);
  for (const pushed of record?.pushed ?? []) lines.push(`pushed ${pushed.reference}@${pushed.digest}`);
  lines.push(`build ${record?.id ?? ''} ${record?.state ?? (done.error ? 'failed' : 'succeeded')}`);
  return `${lines.join('\n')}\n`;
}
