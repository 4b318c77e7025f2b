/** `X-Registry-Auth`: base64url JSON `{username, password, serveraddress}` the docker CLI sends with pull and push. */
import type { CredentialSource } from '../../builder/registry/auth.js';
import { credentialKey, findCredentials } from '../../builder/registry/credentials.js';
import { badRequest } from './errors.js';

interface AuthConfig {
  username?: unknown;
  password?: unknown;
  identitytoken?: unknown;
  serveraddress?: unknown;
}

/** Credentials from the header for its server (any host when it names none); else the daemon's docker config. */
export function credentialsFromHeader(header: string | string[] | undefined): CredentialSource {
  const value = Array.isArray(header) ? header[0] : header;
  if (!value) return (authority) => findCredentials(authority);
  let config: AuthConfig;
  try {
    config = JSON.parse(Buffer.from(value.replace(/-/g, '+').replace(/_/g, '/'), 'base64').toString('utf8')) as AuthConfig;
  } catch {
    throw badRequest('invalid X-Registry-Auth header: expected base64-encoded JSON');
  }
  if (config === null || typeof config !== 'object') throw badRequest('invalid X-Registry-Auth header: expected a JSON object');
  const username = typeof config.username === 'string' ? config.username : '';
  const password = typeof config.password === 'string' ? config.password : typeof config.identitytoken === 'string' ? config.identitytoken : '';
  const server = typeof config.serveraddress === 'string' && config.serveraddress !== '' ? credentialKey(config.serveraddress) : undefined;
  if (!username && !password) return (authority) => findCredentials(authority);
  return async (authority) => (server === undefined || credentialKey(authority) === server ? { username, password } : findCredentials(authority));
}
