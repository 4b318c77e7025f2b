/**
 * One build: its facts, a cancel button, per-step timing bars with cache-miss reasons, the error with its
 * Dockerfile line, pushed digests, and the live log (BuildKit plain lines) from the SSE stream.
 */
import type { BuildEvent } from '../../builder/events.js';
import { ApiError, cancelBuild, followEvents, getJson } from './api.js';
import { formatDuration, h } from './dom.js';
import { triggerText } from './list-page.js';
import { isFinished, type BuildDetail } from './types.js';

interface StepView {
  stepId: string;
  name: string;
  state: 'running' | 'cached' | 'done' | 'failed';
  startedAt: number;
  endedAt?: number;
  reason?: string;
}

export function buildPage(root: HTMLElement, id: string, signal: AbortSignal): void {
  const facts = h('dl', { class: 'facts', 'data-testid': 'facts' });
  const title = h('h1', {}, `Build ${id}`);
  const cancel = h('button', { type: 'button', class: 'danger', 'data-testid': 'cancel', disabled: true }, 'Cancel build');
  const errorBox = h('div', { class: 'error-box', 'data-testid': 'error', hidden: true });
  const pushedBox = h('div', { class: 'pushed', 'data-testid': 'pushed', hidden: true });
  const steps = h('div', { class: 'steps', 'data-testid': 'steps' });
  const log = h('pre', { class: 'log', 'data-testid': 'log' });
  const status = h('p', { class: 'note', 'data-testid': 'stream-status' });
  root.append(h('div', { class: 'title-row' }, title, cancel), facts, errorBox, pushedBox, h('h2', {}, 'Steps'), steps, h('h2', {}, 'Log'), log, status);

  let record: BuildDetail | undefined;
  const views = new Map<string, StepView>();
  const partial = new Map<string, string>();
  let finishedAt: number | undefined;

  const appendLog = (text: string): void => {
    const atBottom = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
    log.append(`${text}\n`);
    if (atBottom) log.scrollTop = log.scrollHeight;
  };

  const renderFacts = (): void => {
    if (!record) return;
    const b = record;
    const row = (term: string, value: string | Node, testid?: string): Node[] => [h('dt', {}, term), h('dd', testid ? { 'data-testid': testid } : {}, value)];
    const started = b.startedAt;
    facts.replaceChildren(
      ...row('State', h('span', { class: `badge ${b.state}` }, b.state), 'state'),
      ...row('Repository', b.repository),
      ...row('Ref', b.request.context.ref ?? b.request.context.kind),
      ...row('Tags', b.request.tags.join(' ') || '—'),
      ...row('Trigger', triggerText({ ...b, trigger: b.request.trigger }), 'trigger'),
      ...row('Worker', b.workers.join(', ') || (b.state === 'queued' ? `queued${b.queuePosition !== undefined ? ` (position ${b.queuePosition + 1})` : ''}` : '—')),
      ...row('Duration', started ? formatDuration((b.finishedAt ?? finishedAt ?? Date.now()) - started) : '—'),
    );
    cancel.disabled = isFinished(b.state);
    if (b.error) {
      const where = b.error.line ? `${b.error.file ?? b.request.dockerfile}:${b.error.line}: ` : '';
      errorBox.replaceChildren(h('strong', {}, b.error.code), ' ', h('span', { 'data-testid': 'error-line' }, `${where}${b.error.message}`));
      if (b.cancelReason) errorBox.append(h('div', {}, b.cancelReason));
      errorBox.hidden = false;
    }
    if (b.pushed.length > 0) {
      pushedBox.replaceChildren(h('strong', {}, 'Pushed'), h('ul', {}, ...b.pushed.map((p) => h('li', {}, h('code', {}, `${p.reference}@${p.digest}`)))));
      pushedBox.hidden = false;
    } else if (b.imageDigest) {
      pushedBox.replaceChildren(h('strong', {}, 'Image '), h('code', {}, b.imageDigest));
      pushedBox.hidden = false;
    }
  };

  /** One row per step: name, a bar placed on the build's time line, its time, and why it missed the cache. */
  const renderSteps = (): void => {
    const all = [...views.values()];
    if (all.length === 0) return;
    const start = Math.min(...all.map((s) => s.startedAt));
    const end = finishedAt ?? Date.now();
    const span = Math.max(1, end - start);
    steps.replaceChildren(...all.map((s) => {
      const until = s.endedAt ?? end;
      const left = ((s.startedAt - start) / span) * 100;
      const width = Math.max(0.5, ((until - s.startedAt) / span) * 100);
      const bar = h('div', { class: 'step-bar' });
      // Through the CSSOM: the page's CSP forbids style attributes.
      bar.style.marginLeft = `${left.toFixed(2)}%`;
      bar.style.width = `${width.toFixed(2)}%`;
      return h('div', { class: `step ${s.state}`, 'data-step': s.stepId },
        h('div', { class: 'step-name' }, s.state === 'cached' ? `CACHED ${s.name}` : s.name),
        h('div', { class: 'step-track' }, bar),
        h('div', { class: 'step-time' }, s.state === 'cached' ? 'cached' : formatDuration(until - s.startedAt)),
        s.reason ? h('div', { class: 'step-reason' }, `cache miss: ${s.reason}`) : null,
      );
    }));
  };

  const onEvent = (event: BuildEvent): void => {
    switch (event.type) {
      case 'step.start':
        views.set(event.stepId, { stepId: event.stepId, name: event.name, state: 'running', startedAt: event.time, reason: event.reason });
        appendLog(`${event.stepId} ${event.name}`);
        if (event.reason) appendLog(`${event.stepId} cache miss: ${event.reason}`);
        break;
      case 'step.cached':
        views.set(event.stepId, { stepId: event.stepId, name: event.name, state: 'cached', startedAt: event.time, endedAt: event.time });
        appendLog(`${event.stepId} ${event.name}`);
        appendLog(`${event.stepId} CACHED`);
        break;
      case 'step.log': {
        const lines = ((partial.get(event.stepId) ?? '') + event.data).split('\n');
        partial.set(event.stepId, lines.pop() ?? '');
        for (const line of lines) appendLog(`${event.stepId} ${line}`);
        break;
      }
      case 'step.done':
      case 'step.error': {
        const rest = partial.get(event.stepId);
        if (rest) appendLog(`${event.stepId} ${rest}`);
        partial.delete(event.stepId);
        const view = views.get(event.stepId);
        if (view) {
          view.state = event.type === 'step.done' ? 'done' : 'failed';
          view.endedAt = event.time;
        }
        appendLog(event.type === 'step.done' ? `${event.stepId} DONE ${(event.durationMs / 1000).toFixed(1)}s` : `${event.stepId} ERROR: ${event.message}`);
        break;
      }
      case 'build.done':
        finishedAt = event.time;
        for (const view of views.values()) if (view.state === 'running') { view.state = 'failed'; view.endedAt = event.time; }
        appendLog(event.error ? `ERROR: ${event.error.message}` : `build finished in ${(event.durationMs / 1000).toFixed(1)}s: ${event.imageDigest ?? ''}`);
        break;
      case 'transfer':
        // A base-image pull on the worker: one line per layer once it is there, as plain progress prints it.
        if (event.status === 'complete' || event.status === 'exists') appendLog(`pull ${event.ref}: ${event.id}: ${event.status === 'exists' ? 'Already exists' : 'Pull complete'}`);
        break;
      default:
        break;
    }
    renderSteps();
  };

  const refresh = async (): Promise<void> => {
    try {
      record = await getJson<BuildDetail>(`/v1/builds/${encodeURIComponent(id)}`);
      renderFacts();
    } catch (err) {
      status.textContent = err instanceof ApiError && err.status === 404 ? `no build ${id}` : `cannot load the build: ${(err as Error).message}`;
    }
  };

  cancel.addEventListener('click', () => {
    cancel.disabled = true;
    cancel.textContent = 'Cancelling…';
    cancelBuild(id).then(refresh, (err: Error) => { status.textContent = `cancel failed: ${err.message}`; cancel.disabled = false; })
      .finally(() => { cancel.textContent = 'Cancel build'; });
  });

  void refresh();
  // The record (state, worker, duration) changes between events: refresh it until the build is over.
  const timer = setInterval(() => {
    if (record && isFinished(record.state) && finishedAt !== undefined) return;
    void refresh();
    renderSteps();
  }, 1000);
  signal.addEventListener('abort', () => clearInterval(timer), { once: true });
  status.textContent = 'streaming…';
  followEvents(id, onEvent, signal)
    .then(() => { status.textContent = 'log complete'; return refresh(); })
    .catch((err: Error) => { status.textContent = `log stream failed: ${err.message}`; });
}
