/** `builder login`: proves credentials against a registry (Basic or a token) before they are stored. */
import type { BuilderConfig } from '../config.js';
import { DEFAULT_REGISTRY } from '../image/reference.js';
import { Authorizer } from './auth.js';
import { credentialKey, removeCredentials, saveCredentials, type Credentials } from './credentials.js';
import { registryEndpoint } from './endpoints.js';
import { send } from './http.js';

/** `https://index.docker.io/v1/`, `docker.io`, `host:5000` → the registry host they name. */
export function loginServer(server: string | undefined): string {
  if (!server) return DEFAULT_REGISTRY;
  return credentialKey(server);
}

/** Checks `credentials` with `GET /v2/` (and the token flow when the registry asks for one), then stores them. */
export async function login(server: string, credentials: Credentials, config: BuilderConfig, signal?: AbortSignal): Promise<void> {
  await checkCredentials(server, credentials, config, signal);
  await saveCredentials(loginServer(server), credentials);
}

/** Proves `credentials` against the registry without storing them (the daemon's POST /auth). */
export async function checkCredentials(server: string, credentials: Credentials, config: BuilderConfig, signal?: AbortSignal): Promise<void> {
  const registry = loginServer(server);
  const endpoint = registryEndpoint(registry, config);
  const auth = new Authorizer(async () => credentials);
  await send({ authority: endpoint.authority, auth, scopes: [], signal }, { method: 'GET', url: `${endpoint.baseUrl}/v2/`, what: `logging in to ${registry}` }, async (response) => {
    await response.body?.cancel();
  });
}

/** Removes stored credentials; false when there were none. */
export async function logout(server: string | undefined): Promise<boolean> {
  return removeCredentials(loginServer(server));
}
