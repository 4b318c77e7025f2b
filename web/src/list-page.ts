/** The build list: newest first, refreshed every second so queued, started and finished builds show up live. */
import { getJson } from './api.js';
import { formatDuration, h, timeAgo } from './dom.js';
import { isFinished, type BuildSummary } from './types.js';

export function triggerText(build: BuildSummary): string {
  const trigger = build.trigger;
  if (!trigger) return '';
  if (trigger.kind === 'webhook') return `${trigger.provider} push ${trigger.tag !== undefined ? `tag ${trigger.tag}` : trigger.branch}@${trigger.sha.slice(0, 7)}`;
  return `api (${trigger.tokenName})`;
}

export function durationOf(build: BuildSummary): string {
  if (!build.startedAt) return '';
  return formatDuration((build.finishedAt ?? Date.now()) - build.startedAt);
}

export function listPage(root: HTMLElement, signal: AbortSignal): void {
  const body = h('tbody');
  const note = h('p', { class: 'note' });
  root.append(
    h('h1', {}, 'Builds'),
    h('table', { class: 'builds', 'data-testid': 'build-list' },
      h('thead', {}, h('tr', {}, ...['State', 'Repository', 'Ref', 'Tags', 'Trigger', 'Worker', 'Duration', 'Steps', 'Queued'].map((t) => h('th', {}, t)))),
      body),
    note,
  );
  const refresh = async (): Promise<void> => {
    try {
      const { builds } = await getJson<{ builds: BuildSummary[] }>('/v1/builds?limit=50');
      note.textContent = builds.length === 0 ? 'No builds yet. Submit one with `builder build --remote URL .` or a git push webhook.' : '';
      body.replaceChildren(...builds.map((build) => h('tr', { 'data-build': build.id, class: `state-${build.state}` },
        h('td', {}, h('a', { href: `#/builds/${build.id}`, class: `badge ${build.state}` }, build.state)),
        h('td', {}, build.repository),
        h('td', {}, build.ref ?? ''),
        h('td', { class: 'tags' }, build.tags.join(' ')),
        h('td', {}, triggerText(build)),
        h('td', {}, build.worker ?? ''),
        h('td', { class: 'num' }, durationOf(build)),
        h('td', { class: 'num' }, isFinished(build.state) || build.state === 'running' ? `${build.cachedSteps ?? 0} cached / ${build.runSteps ?? 0} run` : ''),
        h('td', {}, timeAgo(build.createdAt)),
      )));
    } catch (err) {
      note.textContent = `cannot list builds: ${(err as Error).message}`;
    }
  };
  void refresh();
  const timer = setInterval(() => void refresh(), 1000);
  signal.addEventListener('abort', () => clearInterval(timer), { once: true });
}
