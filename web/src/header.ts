/** The bar on every page: queue depth and workers, refreshed every 2 s while the page is open. */
import { getJson, session } from './api.js';
import { h } from './dom.js';
import type { FarmStatus } from './types.js';

export function farmHeader(signal: AbortSignal, onSignOut: () => void): HTMLElement {
  const status = h('span', { class: 'farm-status', 'data-testid': 'farm-status' }, 'loading…');
  const bar = h('header', { class: 'top' },
    h('a', { href: '#/', class: 'brand' }, 'builder farm'),
    status,
    h('button', { type: 'button', class: 'link', onclick: () => { session.clear(); onSignOut(); } }, 'Sign out'),
  );
  const refresh = async (): Promise<void> => {
    try {
      const farm = await getJson<FarmStatus>('/v1/farm');
      const names = farm.workers.map((w) => w.name).join(', ');
      status.replaceChildren(
        h('span', { class: 'pill' }, `queue ${farm.queue}`),
        h('span', { class: 'pill', 'data-testid': 'queue-depth' }, `${farm.depth.waiting} waiting · ${farm.depth.active} running`),
        h('span', { class: 'pill', title: names }, `${farm.workers.length} worker${farm.workers.length === 1 ? '' : 's'}`),
      );
    } catch (err) {
      status.textContent = `farm status unavailable: ${(err as Error).message}`;
    }
  };
  void refresh();
  const timer = setInterval(() => void refresh(), 2000);
  signal.addEventListener('abort', () => clearInterval(timer), { once: true });
  return bar;
}
