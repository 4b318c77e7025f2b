/**
 * A real distribution v2 registry (Debian's /usr/bin/docker-registry) for tests: a generated config on a free
 * loopback port, a temporary storage dir, optional htpasswd (bcrypt, via apache2-utils' htpasswd) or token auth.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';

const REGISTRY_BINARY = '/usr/bin/docker-registry';

/** What the token-auth registry needs to verify JWTs issued by a test token issuer. */
export interface RegistryTokenOptions {
  /** The issuer's token endpoint (the `realm` clients are sent to). */
  issuerUrl: string;
  service: string;
  /** Must equal the JWTs' `iss` claim. */
  issuer: string;
  /** Path of a PEM certificate bundle holding the issuer's signing certificate. */
  rootCertBundle: string;
}

/** A running test registry. */
export interface RegistryServer {
  /** `127.0.0.1:PORT` */
  host: string;
  storageDir: string;
  /** Kills the registry and removes its temp dirs. Idempotent. */
  stop(): Promise<void>;
  /** Kills the registry (SIGKILL, as a crash would) and starts it again on the same port and storage. */
  restart(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

function authSection(dir: string, options: StartOptions): string {
  if (options.htpasswd) {
    return ['auth:', '  htpasswd:', '    realm: test-realm', `    path: ${path.join(dir, 'htpasswd')}`].join('\n');
  }
  if (options.token) {
    const { issuerUrl, service, issuer, rootCertBundle } = options.token;
    return [
      'auth:',
      '  token:',
      `    realm: ${JSON.stringify(issuerUrl)}`,
      `    service: ${JSON.stringify(service)}`,
      `    issuer: ${JSON.stringify(issuer)}`,
      `    rootcertbundle: ${JSON.stringify(rootCertBundle)}`,
    ].join('\n');
  }
  return '';
}

interface StartOptions {
  htpasswd?: { user: string; password: string };
  token?: RegistryTokenOptions;
  /** Let the process exit while the registry runs (benchmarks stop it from a 'beforeExit' handler). */
  unref?: boolean;
  /** Serve HTTPS with this PEM certificate and key (makeTestPki writes a pair signed by its own CA). */
  tls?: { certificate: string; key: string; ca: string };
  /** The directory the registry's own (storage included) goes in; os.tmpdir() when absent. */
  parentDir?: string;
}

/** GET /v2/'s status, trusting `ca` for a TLS registry; undefined while nothing answers. */
function probeV2(host: string, ca: string | undefined): Promise<number | undefined> {
  return new Promise((resolve) => {
    const url = `${ca ? 'https' : 'http'}://${host}/v2/`;
    const request = ca ? https.get(url, { ca: readFileSync(ca) }) : http.get(url);
    request.on('response', (response) => {
      response.resume();
      resolve(response.statusCode);
    });
    request.on('error', () => resolve(undefined));
  });
}

async function waitForRegistry(host: string, child: ChildProcess, log: () => string, ca?: string): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`docker-registry exited with ${child.exitCode}: ${log().slice(-2000)}`);
    const status = await probeV2(host, ca);
    if (status === 200 || status === 401) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`docker-registry on ${host} did not answer GET /v2/ within 15 s: ${log().slice(-2000)}`);
}

/** A private CA and a certificate for 127.0.0.1 signed by it (openssl), for TLS registries in tests. */
export interface TestPki {
  /** The CA's certificate (PEM): what a client must trust. */
  ca: string;
  certificate: string;
  key: string;
}

export function makeTestPki(dir: string): TestPki {
  const file = (name: string): string => path.join(dir, name);
  const openssl = (args: string[]): void => void execFileSync('openssl', args, { stdio: 'pipe' });
  openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', file('ca.key'), '-out', file('ca.pem'), '-days', '2', '-subj', '/CN=builder test CA']);
  openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', file('server.key'), '-out', file('server.csr'), '-subj', '/CN=127.0.0.1']);
  writeFileSync(file('server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  openssl(['x509', '-req', '-in', file('server.csr'), '-CA', file('ca.pem'), '-CAkey', file('ca.key'), '-CAcreateserial', '-out', file('server.pem'), '-days', '2', '-extfile', file('server.ext')]);
  return { ca: file('ca.pem'), certificate: file('server.pem'), key: file('server.key') };
}

/** Starts a registry; `GET /v2/` answers before this resolves. */
export async function startRegistry(options: StartOptions = {}): Promise<RegistryServer> {
  const dir = await mkdtemp(path.join(options.parentDir ?? os.tmpdir(), 'registry-'));
  const storageDir = path.join(dir, 'storage');
  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  if (options.htpasswd) {
    const line = execFileSync('htpasswd', ['-nbB', options.htpasswd.user, options.htpasswd.password], { encoding: 'utf8' });
    await writeFile(path.join(dir, 'htpasswd'), line.trim() + '\n');
  }
  const config = [
    'version: 0.1',
    'log:',
    '  level: warn',
    '  accesslog:',
    '    disabled: true',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${storageDir}`,
    '  delete:',
    '    enabled: true',
    'http:',
    `  addr: ${host}`,
    `  secret: test-secret-${port}`,
    ...(options.tls ? ['  tls:', `    certificate: ${options.tls.certificate}`, `    key: ${options.tls.key}`] : []),
    authSection(dir, options),
    '',
  ].join('\n');
  const configPath = path.join(dir, 'config.yml');
  await writeFile(configPath, config);

  let child: ChildProcess | undefined;
  let output = '';
  const launch = async (): Promise<void> => {
    output = '';
    const started = spawn(REGISTRY_BINARY, ['serve', configPath], { stdio: ['ignore', 'pipe', 'pipe'] });
    started.stdout?.on('data', (chunk: Buffer) => (output = (output + chunk.toString()).slice(-8000)));
    started.stderr?.on('data', (chunk: Buffer) => (output = (output + chunk.toString()).slice(-8000)));
    child = started;
    if (options.unref) {
      started.unref();
      for (const stream of [started.stdout, started.stderr]) (stream as unknown as { unref?: () => void } | null)?.unref?.();
    }
    await waitForRegistry(host, started, () => output, options.tls?.ca);
  };
  const kill = async (): Promise<void> => {
    const running = child;
    child = undefined;
    if (!running || running.exitCode !== null || running.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => running.once('exit', () => resolve()));
    // An unref'd child's exit does not keep node alive: hold a timer while we wait for it.
    const keepAlive = setInterval(() => undefined, 1000);
    running.kill('SIGKILL');
    await exited.finally(() => clearInterval(keepAlive));
  };

  let stopped = false;
  try {
    await launch();
  } catch (err) {
    await kill();
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    host,
    storageDir,
    async stop() {
      if (stopped) return;
      stopped = true;
      await kill();
      await rm(dir, { recursive: true, force: true });
    },
    async restart() {
      await kill();
      await launch();
    },
  };
}

/** Where the registry keeps a blob's bytes (tests corrupt them on purpose). */
export function registryBlobPath(storageDir: string, digest: string): string {
  const hex = digest.replace(/^sha256:/, '');
  return path.join(storageDir, 'docker', 'registry', 'v2', 'blobs', 'sha256', hex.slice(0, 2), hex, 'data');
}

/** Copies image `tag` from the OCI layout of store `root` to `host/repository:tag` with skopeo (not our code). */
export function skopeoCopyToRegistry(root: string, tag: string, destination: string): void {
  execFileSync('skopeo', ['copy', '--quiet', '--dest-tls-verify=false', `oci:${path.join(root, 'oci')}:${tag}`, `docker://${destination}`], { stdio: 'pipe' });
}
