/** Bearer-token auth for `/v1` routes: 401 without a known token, 403 when the token lacks the route's scope. */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ApiToken, TokenScope } from './farm-config.js';
import { ApiError } from './errors.js';

const digest = (text: string): Buffer => createHash('sha256').update(text).digest();

/** Equal-length digests compared in constant time, so neither content nor length leaks. */
export function safeEqual(a: string, b: string): boolean {
  return timingSafeEqual(digest(a), digest(b));
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The token that authenticated the request. */
    tokenName?: string;
  }
}

export function requireScope(tokens: ApiToken[], scope: TokenScope) {
  return async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    void reply;
    const header = request.headers.authorization ?? '';
    const match = /^Bearer\s+(\S+)$/i.exec(header);
    if (!match) throw new ApiError(401, 'UNAUTHORIZED', 'missing bearer token: send "Authorization: Bearer <token>"');
    let found: ApiToken | undefined;
    for (const token of tokens) if (safeEqual(token.token, match[1]!)) found = token;
    if (!found) throw new ApiError(401, 'UNAUTHORIZED', 'unknown or revoked API token');
    if (!found.scopes.includes(scope)) {
      throw new ApiError(403, 'FORBIDDEN', `token "${found.name}" lacks the "${scope}" scope (it has: ${found.scopes.join(', ') || 'none'})`);
    }
    request.tokenName = found.name;
  };
}
