/** The page's only way out: fetch to this origin with the session's bearer token. */
import type { BuildEvent } from '../../builder/events.js';
import { SseParser } from '../../api/sse-parser.js';

const TOKEN_KEY = 'builder.token';

/** The token lives in sessionStorage: gone when the tab closes, never in a URL, a cookie or a log. */
export const session = {
  get token(): string | undefined { return sessionStorage.getItem(TOKEN_KEY) ?? undefined; },
  set(token: string): void { sessionStorage.setItem(TOKEN_KEY, token); },
  clear(): void { sessionStorage.removeItem(TOKEN_KEY); },
};

export class ApiError extends Error {
  constructor(readonly status: number, readonly code: string, message: string) {
    super(message);
  }
}

async function call(method: string, path: string, token = session.token): Promise<Response> {
  const response = await fetch(path, { method, headers: token ? { authorization: `Bearer ${token}` } : {} });
  if (response.ok) return response;
  const body = (await response.json().catch(() => ({}))) as { code?: string; message?: string };
  throw new ApiError(response.status, body.code ?? 'HTTP', body.message ?? `${method} ${path}: HTTP ${response.status}`);
}

export async function getJson<T>(path: string, token?: string): Promise<T> {
  return (await (await call('GET', path, token)).json()) as T;
}

export async function cancelBuild(id: string): Promise<void> {
  await call('DELETE', `/v1/builds/${encodeURIComponent(id)}`);
}

/** Hooks for the browser tests: drop the live connection as a network failure would. */
export const testHooks: { dropStream?: () => void; reconnects: number } = { reconnects: 0 };
(window as unknown as { builderTestHooks: typeof testHooks }).builderTestHooks = testHooks;

/**
 * Follows a build's events: replay, then live, until build.done. A dropped connection reconnects after a
 * second with Last-Event-ID, so the log continues where it stopped: no gap, no line twice.
 */
export async function followEvents(id: string, onEvent: (event: BuildEvent, streamId: string) => void, signal: AbortSignal): Promise<void> {
  let lastId: string | undefined;
  let done = false;
  while (!done && !signal.aborted) {
    const attempt = new AbortController();
    const stop = (): void => attempt.abort();
    signal.addEventListener('abort', stop, { once: true });
    testHooks.dropStream = stop;
    try {
      const headers: Record<string, string> = { authorization: `Bearer ${session.token ?? ''}`, accept: 'text/event-stream' };
      if (lastId) headers['last-event-id'] = lastId;
      const response = await fetch(`/v1/builds/${encodeURIComponent(id)}/logs`, { headers, signal: attempt.signal });
      if (response.status === 401 || response.status === 403 || response.status === 404) {
        const body = (await response.json().catch(() => ({}))) as { code?: string; message?: string };
        throw new ApiError(response.status, body.code ?? 'HTTP', body.message ?? `HTTP ${response.status}`);
      }
      if (!response.ok || !response.body) throw new Error(`HTTP ${response.status}`);
      const parser = new SseParser((message) => {
        if (!message.id) return;
        lastId = message.id;
        const event = JSON.parse(message.data) as BuildEvent;
        onEvent(event, message.id);
        if (event.type === 'build.done') done = true;
      });
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      for (;;) {
        const { value, done: ended } = await reader.read();
        if (ended) break;
        parser.push(value);
      }
    } catch (err) {
      if (err instanceof ApiError) throw err;
      // A network error or our own abort: retry unless the page moved on.
    } finally {
      signal.removeEventListener('abort', stop);
    }
    if (!done && !signal.aborted) {
      testHooks.reconnects++;
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  }
}
