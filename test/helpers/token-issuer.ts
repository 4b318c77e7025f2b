/**
 * A test token server for a registry configured with `auth: token`: an HTTP server on loopback that checks
 * Basic credentials and signs RS256 JWTs whose `x5c` header carries a self-signed certificate
 * (made with `openssl req -x509`), which the registry trusts through its `rootcertbundle`.
 */
import { execFileSync } from 'node:child_process';
import { createSign, generateKeyPairSync, randomUUID, X509Certificate } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';

/** One token request as the issuer saw it. */
export interface TokenRequest {
  account?: string;
  /** `refresh_token` for an OAuth2 POST with an identity token, else `basic`/anonymous GET. */
  grant?: 'refresh_token';
  scopes: string[];
  /** Whether Basic credentials were sent and matched. */
  authenticated: boolean;
}

/** A running token issuer. */
export interface TokenIssuer {
  /** The realm URL (`http://127.0.0.1:PORT/token`). */
  issuerUrl: string;
  service: string;
  issuer: string;
  /** PEM file with the signing certificate, for the registry's `rootcertbundle`. */
  rootCertBundle: string;
  requests: TokenRequest[];
  stop(): Promise<void>;
}

const base64url = (data: Buffer | string): string => Buffer.from(data).toString('base64url');

/** Starts the issuer. `users` may push and pull; anonymous requests get no access at all. */
export async function startTokenIssuer(options: {
  users: Record<string, string>;
  expiresInSeconds?: number;
  /** Identity (refresh) tokens → user: accepted by `POST` with `grant_type=refresh_token`, as docker's token servers do. */
  refreshTokens?: Record<string, string>;
}): Promise<TokenIssuer> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'token-issuer-'));
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const keyPath = path.join(dir, 'key.pem');
  await writeFile(keyPath, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  const rootCertBundle = path.join(dir, 'cert.pem');
  execFileSync('openssl', ['req', '-x509', '-new', '-key', keyPath, '-subj', '/CN=test-token-issuer', '-days', '2', '-out', rootCertBundle], { stdio: 'ignore' });
  const certDer = new X509Certificate(execFileSync('openssl', ['x509', '-in', rootCertBundle, '-outform', 'PEM'])).raw;
  const service = 'test-registry';
  const issuer = 'test-token-issuer';
  const expiresIn = options.expiresInSeconds ?? 300;
  const requests: TokenRequest[] = [];

  const sign = (subject: string, scopes: string[]): string => {
    const header = { typ: 'JWT', alg: 'RS256', x5c: [certDer.toString('base64')] };
    const now = Math.floor(Date.now() / 1000);
    const access = scopes.map((scope) => {
      const [type, name, actions] = scope.split(':');
      return { type, name, actions: (actions ?? '').split(',').filter(Boolean) };
    });
    const claims = { iss: issuer, sub: subject, aud: service, exp: now + expiresIn, nbf: now - 1, iat: now, jti: randomUUID(), access };
    const signingInput = `${base64url(JSON.stringify(header))}.${base64url(JSON.stringify(claims))}`;
    const signature = createSign('RSA-SHA256').update(signingInput).sign(privateKey);
    return `${signingInput}.${base64url(signature)}`;
  };

  const handleRefresh = (request: IncomingMessage, response: ServerResponse): void => {
    let body = '';
    request.on('data', (chunk: Buffer) => (body += chunk.toString()));
    request.on('end', () => {
      const form = new URLSearchParams(body);
      const scopes = (form.get('scope') ?? '').split(' ').filter(Boolean);
      const user = form.get('grant_type') === 'refresh_token' ? options.refreshTokens?.[form.get('refresh_token') ?? ''] : undefined;
      requests.push({ ...(user ? { account: user } : {}), grant: 'refresh_token', scopes, authenticated: user !== undefined });
      if (!user) {
        response.writeHead(401, { 'content-type': 'application/json' }).end('{"details":"invalid refresh token"}');
        return;
      }
      const token = sign(user, scopes);
      response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ access_token: token, expires_in: expiresIn }));
    });
  };

  const handle = (request: IncomingMessage, response: ServerResponse): void => {
    if (request.method === 'POST') return handleRefresh(request, response);
    const url = new URL(request.url ?? '/', 'http://localhost');
    const scopes = url.searchParams.getAll('scope').flatMap((s) => s.split(' ')).filter(Boolean);
    const basic = /^Basic (.+)$/i.exec(request.headers.authorization ?? '');
    let user: string | undefined;
    if (basic) {
      const decoded = Buffer.from(basic[1]!, 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      const [name, password] = [decoded.slice(0, colon), decoded.slice(colon + 1)];
      if (options.users[name] !== password) {
        requests.push({ account: name, scopes, authenticated: false });
        response.writeHead(401, { 'content-type': 'application/json' }).end('{"details":"incorrect username or password"}');
        return;
      }
      user = name;
    }
    requests.push({ ...(user ? { account: user } : {}), scopes, authenticated: user !== undefined });
    const token = sign(user ?? '', user ? scopes : []);
    response.writeHead(200, { 'content-type': 'application/json' })
      .end(JSON.stringify({ token, access_token: token, expires_in: expiresIn, issued_at: new Date().toISOString() }));
  };

  const server = createServer(handle);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  let stopped = false;
  return {
    issuerUrl: `http://127.0.0.1:${port}/token`,
    service,
    issuer,
    rootCertBundle,
    requests,
    async stop() {
      if (stopped) return;
      stopped = true;
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await rm(dir, { recursive: true, force: true });
    },
  };
}
