/**
 * Registry auth: anonymous, Basic, and the Bearer token flow of `WWW-Authenticate` challenges
 * (realm, service, scope). Tokens are cached per realm/service/scope set until they expire.
 * Credentials and tokens never go into messages.
 */
import { assertHostAllowed } from './endpoints.js';
import { BuildError } from '../errors.js';
import { findCredentials, type Credentials } from './credentials.js';

/** One parsed `WWW-Authenticate` challenge. */
export interface Challenge {
  scheme: 'basic' | 'bearer';
  params: Record<string, string>;
}

/** Parses `Bearer realm="…",service="…",scope="…"` (one challenge, which is what registries send). */
export function parseChallenge(header: string | null): Challenge | undefined {
  if (!header) return undefined;
  const match = /^\s*(\w+)\s*(.*)$/s.exec(header);
  if (!match) return undefined;
  const scheme = match[1]!.toLowerCase();
  if (scheme !== 'basic' && scheme !== 'bearer') return undefined;
  const params: Record<string, string> = {};
  const param = /([\w-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))/g;
  for (let m = param.exec(match[2]!); m; m = param.exec(match[2]!)) {
    params[m[1]!.toLowerCase()] = m[2] !== undefined ? m[2].replace(/\\(.)/g, '$1') : m[3]!;
  }
  return { scheme, params };
}

interface CachedToken {
  token: string;
  expiresAt: number;
}

/** Finds credentials for a host; by default from docker's config file. */
export type CredentialSource = (authority: string) => Promise<Credentials | undefined>;

/** Holds what each host asked for and the tokens it gave, for the requests of one pull or push. */
export class Authorizer {
  private readonly challenges = new Map<string, Challenge>();
  private readonly tokens = new Map<string, Promise<CachedToken>>();
  private readonly credentials = new Map<string, Promise<Credentials | undefined>>();

  constructor(private readonly source: CredentialSource = (authority) => findCredentials(authority)) {}

  private credentialsFor(authority: string): Promise<Credentials | undefined> {
    let found = this.credentials.get(authority);
    if (!found) {
      found = this.source(authority);
      this.credentials.set(authority, found);
    }
    return found;
  }

  /** The Authorization header for a request to `authority` needing `scopes`, once the host has challenged us. */
  async header(authority: string, scopes: string[]): Promise<string | undefined> {
    const challenge = this.challenges.get(authority);
    if (!challenge) return undefined;
    const credentials = await this.credentialsFor(authority);
    if (challenge.scheme === 'basic') {
      if (credentials?.identityToken) throw new BuildError('REGISTRY_AUTH', `${authority} asks for Basic auth, but its stored credential is an identity token (run \`builder login ${authority}\`)`);
      return credentials ? `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64')}` : undefined;
    }
    const token = await this.token(authority, challenge, scopes, credentials);
    return `Bearer ${token}`;
  }

  /**
   * Learns from a 401 so the next try carries the right Authorization; throws REGISTRY_AUTH when a retry cannot help.
   * Adds the scopes the host asked for to `scopes`.
   */
  async challenged(authority: string, header: string | null, scopes: string[], what: string, hadAuthorization: boolean): Promise<void> {
    const challenge = parseChallenge(header);
    if (!challenge) throw new BuildError('REGISTRY_AUTH', `${what}: ${authority} refused access and sent no usable WWW-Authenticate challenge`);
    const credentials = await this.credentialsFor(authority);
    const wanted = (challenge.params.scope ?? '').split(' ').filter((s) => s !== '' && !scopes.includes(s));
    scopes.push(...wanted);
    // A token without a scope the host now asks for is worth one more try; anything else is a refusal.
    if (hadAuthorization && wanted.length === 0) {
      this.forgetTokens(authority);
      const who = credentials ? `the credentials for ${authority} were rejected` : 'anonymous access was refused';
      throw new BuildError('REGISTRY_AUTH', `${what}: authentication failed: ${who} (run \`builder login ${authority}\`)`);
    }
    if (challenge.scheme === 'basic' && !credentials) {
      throw new BuildError('REGISTRY_AUTH', `${what}: ${authority} requires authentication and no credentials are stored for it (run \`builder login ${authority}\`)`);
    }
    this.challenges.set(authority, challenge);
  }

  private forgetTokens(authority: string): void {
    for (const key of this.tokens.keys()) if (key.startsWith(`${authority}\n`)) this.tokens.delete(key);
  }

  private async token(authority: string, challenge: Challenge, scopes: string[], credentials: Credentials | undefined): Promise<string> {
    const sorted = [...new Set(scopes)].sort();
    const key = [authority, challenge.params.realm, challenge.params.service, ...sorted].join('\n');
    let cached = this.tokens.get(key);
    if (cached) {
      const token = await cached.catch(() => undefined);
      if (token && token.expiresAt > Date.now()) return token.token;
      this.tokens.delete(key);
    }
    cached = fetchToken(authority, challenge, sorted, credentials);
    this.tokens.set(key, cached);
    try {
      return (await cached).token;
    } catch (err) {
      this.tokens.delete(key);
      throw err;
    }
  }
}

async function fetchToken(authority: string, challenge: Challenge, scopes: string[], credentials: Credentials | undefined): Promise<CachedToken> {
  const realm = challenge.params.realm;
  if (!realm) throw new BuildError('REGISTRY_AUTH', `${authority} sent a Bearer challenge without a realm`);
  let url: URL;
  try {
    url = new URL(realm);
  } catch {
    throw new BuildError('REGISTRY_AUTH', `${authority} sent a Bearer challenge with an invalid realm`);
  }
  const headers: Record<string, string> = {};
  let init: RequestInit = { headers };
  if (credentials?.identityToken) {
    // docker's identity token: the OAuth2 refresh-token grant (distribution's token auth spec, "OAuth2 Token").
    const form = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: credentials.identityToken, client_id: 'builder' });
    if (challenge.params.service) form.set('service', challenge.params.service);
    if (scopes.length > 0) form.set('scope', scopes.join(' '));
    headers['content-type'] = 'application/x-www-form-urlencoded';
    init = { method: 'POST', headers, body: form.toString() };
  } else {
    if (challenge.params.service) url.searchParams.set('service', challenge.params.service);
    for (const scope of scopes) url.searchParams.append('scope', scope);
    if (credentials) {
      url.searchParams.set('account', credentials.username);
      headers.authorization = `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64')}`;
    }
  }
  const what = `getting a token for ${authority} from ${url.origin}${url.pathname}`;
  let response: Response;
  assertHostAllowed(url);
  try {
    response = await fetch(url, init);
  } catch (err) {
    throw new BuildError('REGISTRY_UNAVAILABLE', `${what}: ${(err as Error).message}`);
  }
  if (response.status === 401 || response.status === 403) {
    await response.body?.cancel();
    throw new BuildError('REGISTRY_AUTH', `${what}: the token server refused the ${credentials ? 'credentials' : 'anonymous request'} (HTTP ${response.status}; run \`builder login ${authority}\`)`);
  }
  if (!response.ok) {
    const body = (await response.text()).slice(0, 200);
    const code = response.status >= 500 || response.status === 429 ? 'REGISTRY_UNAVAILABLE' : 'REGISTRY_AUTH';
    throw new BuildError(code, `${what}: HTTP ${response.status}: ${body}`);
  }
  const body = (await response.json()) as { token?: string; access_token?: string; expires_in?: number; issued_at?: string };
  const token = body.token ?? body.access_token;
  if (!token) throw new BuildError('REGISTRY_AUTH', `${what}: the token server answered without a token`);
  const lifetime = (typeof body.expires_in === 'number' && body.expires_in > 0 ? body.expires_in : 60) * 1000;
  const issued = body.issued_at ? Date.parse(body.issued_at) : NaN;
  const start = Number.isFinite(issued) && issued <= Date.now() ? issued : Date.now();
  // Renew a little early so a token does not expire between our check and the registry's.
  return { token, expiresAt: start + lifetime - Math.min(10_000, lifetime / 4) };
}
