/**
 * What the API logs of a request: fastify's default `req` serializer writes the whole URL, and `?buildarg=K=V`
 * often carries a token a user should have passed as a secret. Build arg values are replaced by `***` in logs.
 */
import type { FastifyRequest } from 'fastify';

/** The URL with every `buildarg` value redacted (the name stays, so a log still says which args were set). */
export function redactUrl(url: string): string {
  const query = url.indexOf('?');
  if (query < 0) return url;
  const params = new URLSearchParams(url.slice(query + 1));
  let changed = false;
  const out = new URLSearchParams();
  for (const [key, value] of params) {
    if (key === 'buildarg') {
      const eq = value.indexOf('=');
      out.append(key, eq < 0 ? value : `${value.slice(0, eq)}=***`);
      changed = true;
    } else out.append(key, value);
  }
  return changed ? `${url.slice(0, query)}?${out.toString()}` : url;
}

/** pino serializers for fastify's request log lines: method, redacted URL, client address; never headers. */
export const requestSerializers = {
  req(request: FastifyRequest): Record<string, unknown> {
    return { method: request.method, url: redactUrl(request.url), remoteAddress: request.ip };
  },
};
