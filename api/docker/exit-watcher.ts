/**
 * Publishes `die` for containers that exit on their own (a `run -d` whose process ends): while anyone streams
 * /events, the container list is compared once a second. Exits the daemon already announced (stop, wait) within
 * the last seconds are not announced twice.
 */
import type { DaemonContext } from './daemon-context.js';
import { containerService } from './containers.js';

const INTERVAL_MS = 1000;
const DEDUPE_MS = 5000;

export function watchExits(ctx: DaemonContext): void {
  const running = new Map<string, Record<string, string>>();
  const announced = new Map<string, number>();
  ctx.events.subscribe((event) => {
    if (event.Type === 'container' && event.Action === 'die') announced.set(event.Actor.ID, Date.now());
  });
  let timer: NodeJS.Timeout | undefined;
  const tick = async (): Promise<void> => {
    const list = await (await containerService(ctx)).list({ all: true }).catch(() => undefined);
    if (!list) return;
    const now = new Set<string>();
    for (const summary of list) {
      if (summary.State === 'running' || summary.State === 'paused') {
        now.add(summary.Id);
        running.set(summary.Id, { ...(summary.Labels ?? {}), image: summary.Image, name: summary.Names[0]?.replace(/^\//, '') ?? '' });
      }
    }
    for (const [id, attributes] of running) {
      if (now.has(id)) continue;
      running.delete(id);
      const recent = announced.get(id);
      if (recent === undefined || Date.now() - recent > DEDUPE_MS) ctx.events.publish('container', 'die', id, attributes);
    }
    for (const [id, at] of announced) if (Date.now() - at > DEDUPE_MS) announced.delete(id);
  };
  // Only while someone listens: an idle daemon reads no container records.
  ctx.events.onListeners((count) => {
    if (count > 0 && !timer) {
      timer = setInterval(() => void tick(), INTERVAL_MS);
      timer.unref();
      void tick();
    } else if (count === 0 && timer) {
      clearInterval(timer);
      timer = undefined;
      running.clear();
    }
  });
}
