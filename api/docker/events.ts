/**
 * `GET /events`: the kept events since `since`, then live ones until `until` (or forever), one JSON object per line,
 * filtered by type, event, image, container, network, volume, label and scope as docker filters them.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { DaemonContext } from './daemon-context.js';
import { badRequest } from './errors.js';
import type { DockerEvent } from './event-bus.js';
import { matchesLabels, parseFilters, type Filters } from './filters.js';

const FILTER_KEYS = ['type', 'event', 'image', 'container', 'network', 'volume', 'label', 'scope', 'daemon', 'config', 'node', 'plugin', 'secret', 'service'] as const;

/** docker's timestamps: `seconds[.nanoseconds]` (the CLI turns durations and dates into these). */
export function parseTimestamp(value: unknown, name: string): number | undefined {
  if (value === undefined || value === '') return undefined;
  if (typeof value !== 'string' || !/^\d+(\.\d{1,9})?$/.test(value)) throw badRequest(`invalid ${name} timestamp "${String(value)}": want seconds[.nanoseconds]`);
  const [seconds, fraction = ''] = value.split('.');
  return Number(seconds) * 1e9 + Number(fraction.padEnd(9, '0'));
}

export function eventMatches(event: DockerEvent, filters: Filters): boolean {
  const any = (key: string, candidates: (string | undefined)[]): boolean => {
    const wanted = filters.get(key);
    if (!wanted || wanted.length === 0) return true;
    return wanted.some((w) => candidates.some((c) => c !== undefined && (c === w || (c.startsWith('sha256:') ? c.slice(7) : c).startsWith(w))));
  };
  const attrs = event.Actor.Attributes;
  const typed = (type: DockerEvent['Type'], key: string, candidates: (string | undefined)[]): boolean =>
    !filters.has(key) || (event.Type === type && any(key, candidates)) || (key === 'image' && event.Type === 'container' && any(key, [attrs.image]));
  return any('type', [event.Type])
    && any('event', [event.Action, event.Action.split(':')[0]])
    && any('scope', [event.scope])
    && typed('image', 'image', [event.Actor.ID, attrs.name])
    && typed('container', 'container', [event.Actor.ID, attrs.name])
    && typed('network', 'network', [event.Actor.ID, attrs.name])
    && typed('volume', 'volume', [event.Actor.ID, attrs.name])
    && matchesLabels(filters, attrs);
}

export async function streamEvents(ctx: DaemonContext, request: FastifyRequest, reply: FastifyReply): Promise<void> {
  const query = request.query as Record<string, unknown>;
  const sinceNs = parseTimestamp(query.since, 'since');
  const untilNs = parseTimestamp(query.until, 'until');
  const filters = parseFilters(query.filters, FILTER_KEYS);
  reply.hijack();
  const out = reply.raw;
  out.writeHead(200, { 'Content-Type': 'application/json' });
  // The CLI waits for the headers before it prints anything; flush them now.
  out.flushHeaders();
  const send = (event: DockerEvent): void => {
    if (untilNs !== undefined && event.timeNano > untilNs) return;
    if (eventMatches(event, filters)) out.write(`${JSON.stringify(event)}\n`);
  };
  if (sinceNs !== undefined) for (const event of ctx.events.since(sinceNs)) send(event);
  const remaining = untilNs === undefined ? undefined : untilNs / 1e6 - Date.now();
  if (remaining !== undefined && remaining <= 0) return void out.end();
  const unsubscribe = ctx.events.subscribe(send, { stream: true });
  await new Promise<void>((resolve) => {
    const timer = remaining === undefined ? undefined : setTimeout(resolve, remaining);
    out.on('close', () => resolve());
    const stop = (): void => resolve();
    ctx.shutdown.addEventListener('abort', stop, { once: true });
    out.on('close', () => { if (timer) clearTimeout(timer); ctx.shutdown.removeEventListener('abort', stop); });
  });
  unsubscribe();
  if (!out.writableEnded) out.end();
}
