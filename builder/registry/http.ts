/**
 * One HTTP exchange with a registry: per-host concurrency limit, auth challenges, retries with backoff
 * on 429/5xx and dropped connections, and errors that say what was attempted.
 */
import PQueue from 'p-queue';
import { BuildError, type ErrorCode } from '../errors.js';
import type { Authorizer } from './auth.js';
import { exchange, type RegistryResponse, type RequestBody } from './transport.js';

export type { RegistryResponse } from './transport.js';

/** At most this many requests in flight per registry host. */
export const MAX_REQUESTS_PER_HOST = 4;
const MAX_BACKOFF_MS = 8_000;
const BODY_EXCERPT = 200;

const hostQueues = new Map<string, PQueue>();

/** Runs `task` while holding one of the host's request slots. */
export function withHostSlot<T>(authority: string, task: () => Promise<T>): Promise<T> {
  let queue = hostQueues.get(authority);
  if (!queue) {
    queue = new PQueue({ concurrency: MAX_REQUESTS_PER_HOST });
    hostQueues.set(authority, queue);
  }
  return queue.add(task, { throwOnTimeout: true });
}

/** What a request needs besides its URL. */
export interface RequestContext {
  authority: string;
  auth: Authorizer;
  /** Scopes a token must carry (`repository:name:pull,push`); grows as the host asks for more. */
  scopes: string[];
  signal?: AbortSignal;
}

/** One request. `body` is a factory so a retry can send it again. */
export interface RegistryRequest {
  method: string;
  url: string;
  headers?: Record<string, string>;
  body?: () => RequestBody;
  /** "uploading layer sha256:… to host/repo": the start of every error message. */
  what: string;
  /** Statuses handed to `handle` as they are instead of thrown (e.g. 404 for a HEAD). */
  accept?: number[];
  /** Retry 429/5xx and dropped connections (default true). Off for requests whose body cannot be resent. */
  retry?: boolean;
  /** Total tries when retrying (default 6: backoff 0.25, 0.5, 1, 2, 4 s). */
  attempts?: number;
}

export function backoffMs(attempt: number): number {
  return Math.min(MAX_BACKOFF_MS, 250 * 2 ** attempt);
}

const RETRYABLE_NETWORK = /ECONNRESET|ECONNREFUSED|EPIPE|ETIMEDOUT|UND_ERR_SOCKET|UND_ERR_CLOSED|other side closed|terminated|socket hang up/i;

/** True for failures worth retrying: dropped or refused connections, not DNS or TLS problems. */
export function isRetryableNetworkError(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 4; e = e.cause, depth++) {
    const code = (e as NodeJS.ErrnoException).code ?? '';
    if (RETRYABLE_NETWORK.test(code) || RETRYABLE_NETWORK.test(e.message)) return true;
  }
  return false;
}

export function networkErrorText(err: unknown): string {
  const parts: string[] = [];
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 4; e = e.cause, depth++) {
    const code = (e as NodeJS.ErrnoException).code;
    parts.push(code && !e.message.includes(code) ? `${e.message} (${code})` : e.message);
  }
  return parts.join(': ') || String(err);
}

export function statusErrorCode(status: number): ErrorCode {
  if (status === 401 || status === 403) return 'REGISTRY_AUTH';
  if (status === 404) return 'REGISTRY_NOT_FOUND';
  if (status === 429 || status >= 500) return 'REGISTRY_UNAVAILABLE';
  return 'INVALID_ARGUMENT';
}

async function bodyExcerpt(response: RegistryResponse): Promise<string> {
  try {
    const text = (await response.text()).replace(/\s+/g, ' ').trim();
    return text.length > BODY_EXCERPT ? `${text.slice(0, BODY_EXCERPT)}…` : text;
  } catch {
    return '';
  }
}

/** The error for an unexpected status (consumes the body for its excerpt). */
export async function statusError(what: string, response: RegistryResponse): Promise<BuildError> {
  const excerpt = await bodyExcerpt(response);
  return new BuildError(statusErrorCode(response.status), `${what}: HTTP ${response.status}${excerpt ? `: ${excerpt}` : ''}`);
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(cancelled());
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(cancelled());
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

export const cancelled = (): BuildError => new BuildError('CANCELLED', 'cancelled');

type Outcome<T> = { kind: 'done'; value: T } | { kind: 'auth'; header: string | null; hadAuthorization: boolean } | { kind: 'retry'; error: BuildError };

/**
 * Sends `request` and hands a response with an acceptable status (2xx, or one in `accept`) to `handle`,
 * which runs while the host slot is held, so it may stream the body.
 */
export async function send<T>(context: RequestContext, request: RegistryRequest, handle: (response: RegistryResponse) => Promise<T>): Promise<T> {
  const attempts = request.retry === false ? 1 : request.attempts ?? 6;
  let authTries = 0;
  for (let attempt = 0; ; ) {
    if (context.signal?.aborted) throw cancelled();
    const authorization = await context.auth.header(context.authority, context.scopes);
    const outcome = await withHostSlot(context.authority, async (): Promise<Outcome<T>> => {
      let response: RegistryResponse;
      try {
        response = await exchange({
          method: request.method,
          url: request.url,
          headers: { ...request.headers, ...(authorization ? { authorization } : {}) },
          ...(request.body ? { body: request.body } : {}),
          signal: context.signal,
        });
      } catch (err) {
        if (err instanceof BuildError) throw err;
        if (context.signal?.aborted) throw cancelled();
        const error = new BuildError('REGISTRY_UNAVAILABLE', `${request.what}: ${networkErrorText(err)}`, { cause: err });
        if (isRetryableNetworkError(err)) return { kind: 'retry', error };
        throw error;
      }
      if (response.status === 401 && !request.accept?.includes(401)) {
        await response.body?.cancel();
        return { kind: 'auth', header: response.headers.get('www-authenticate'), hadAuthorization: authorization !== undefined };
      }
      if (response.ok || request.accept?.includes(response.status)) return { kind: 'done', value: await handle(response) };
      const error = await statusError(request.what, response);
      if (error.code === 'REGISTRY_UNAVAILABLE') return { kind: 'retry', error };
      throw error;
    });
    if (outcome.kind === 'done') return outcome.value;
    if (outcome.kind === 'auth') {
      if (++authTries > 3) throw new BuildError('REGISTRY_AUTH', `${request.what}: ${context.authority} keeps refusing the credentials`);
      await context.auth.challenged(context.authority, outcome.header, context.scopes, request.what, outcome.hadAuthorization);
      continue;
    }
    attempt++;
    if (attempt >= attempts) throw outcome.error;
    await sleep(backoffMs(attempt - 1), context.signal);
  }
}
