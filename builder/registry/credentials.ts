/**
 * Registry credentials in docker's config file (`$DOCKER_CONFIG/config.json`, else ~/.docker/config.json):
 * `{ "auths": { "host": { "auth": base64("user:password") } } }`. Other keys in the file are kept as they are.
 * As docker does, `credHelpers: { "host": "name" }` (per registry) or else `credsStore: "name"` (all registries)
 * sends the secret to `docker-credential-<name>` instead, leaving an empty `auths` entry as the marker.
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { BuildError, errorMessage } from '../errors.js';
import { helperErase, helperGet, helperStore } from './credential-helper.js';

/** A username and password (or token) for one registry. Never printed. */
export interface Credentials {
  username: string;
  password: string;
  /**
   * docker's identity token (a helper's `Username: "<token>"`, or `identitytoken` in the file): an OAuth2
   * refresh token the token server trades for access tokens, instead of Basic credentials.
   */
  identityToken?: string;
}

const DOCKER_HUB_KEY = 'https://index.docker.io/v1/';
const DOCKER_HUB_ALIASES = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io', 'registry.hub.docker.com']);

export function dockerConfigPath(): string {
  return path.join(process.env.DOCKER_CONFIG || path.join(homedir(), '.docker'), 'config.json');
}

/** `https://host/v1/` → `host`; Docker Hub's names all become `docker.io`. */
export function credentialKey(server: string): string {
  const host = server.replace(/^[a-z]+:\/\//i, '').replace(/\/.*$/, '').toLowerCase();
  return DOCKER_HUB_ALIASES.has(host) ? 'docker.io' : host;
}

type DockerConfigFile = Record<string, unknown> & {
  auths?: Record<string, { auth?: string; username?: string; password?: string; identitytoken?: string }>;
  credsStore?: unknown;
  credHelpers?: unknown;
};

/** The credential helper for `key`: its credHelpers entry, else credsStore, else none. */
function helperFor(config: DockerConfigFile, key: string): string | undefined {
  if (typeof config.credHelpers === 'object' && config.credHelpers !== null) {
    for (const [server, name] of Object.entries(config.credHelpers as Record<string, unknown>)) {
      if (credentialKey(server) === key && typeof name === 'string' && name !== '') return checkHelperName(name);
    }
  }
  return typeof config.credsStore === 'string' && config.credsStore !== '' ? checkHelperName(config.credsStore) : undefined;
}

function checkHelperName(name: string): string {
  // The name becomes part of a program name looked up on PATH: no paths, no options.
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name)) throw new BuildError('INVALID_ARGUMENT', `invalid credential helper name "${name}" in the docker config file`);
  return name;
}

/** What docker hands a helper as ServerURL: Docker Hub's legacy URL, else the host. */
function helperServer(key: string): string {
  return key === 'docker.io' ? DOCKER_HUB_KEY : key;
}

async function readConfigFile(file: string): Promise<DockerConfigFile> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw new BuildError('INVALID_ARGUMENT', `cannot read the docker config file ${file}: ${errorMessage(err)}`, { cause: err });
  }
  try {
    const parsed: unknown = JSON.parse(text);
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('not an object');
    return parsed as DockerConfigFile;
  } catch {
    // Neither the message nor a cause may quote the file: it holds secrets.
    throw new BuildError('INVALID_ARGUMENT', `the docker config file ${file} is not valid JSON`);
  }
}

/** The credentials stored for `server` (a host, `host:port`, or a URL), if any. */
export async function findCredentials(server: string, file = dockerConfigPath()): Promise<Credentials | undefined> {
  const wanted = credentialKey(server);
  const config = await readConfigFile(file);
  const helper = helperFor(config, wanted);
  if (helper) {
    const found = await helperGet(helper, helperServer(wanted));
    if (found) return found;
  }
  const auths = config.auths ?? {};
  for (const [key, entry] of Object.entries(auths)) {
    if (credentialKey(key) !== wanted || typeof entry !== 'object' || entry === null) continue;
    if (typeof entry.identitytoken === 'string' && entry.identitytoken !== '') return { username: '<token>', password: '', identityToken: entry.identitytoken };
    if (typeof entry.auth === 'string' && entry.auth !== '') {
      const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      if (colon > 0) return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
    }
    if (typeof entry.username === 'string' && typeof entry.password === 'string') return { username: entry.username, password: entry.password };
  }
  return undefined;
}

async function writeConfigFile(file: string, config: DockerConfigFile): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  const temp = `${file}.${randomBytes(6).toString('hex')}.tmp`;
  await writeFile(temp, JSON.stringify(config, null, '\t') + '\n', { mode: 0o600 });
  await rename(temp, file);
}

/** Stores credentials for `server`, replacing any entry for the same host. */
export async function saveCredentials(server: string, credentials: Credentials, file = dockerConfigPath()): Promise<void> {
  const config = await readConfigFile(file);
  const key = credentialKey(server);
  const auths = Object.fromEntries(Object.entries(config.auths ?? {}).filter(([k]) => credentialKey(k) !== key));
  const helper = helperFor(config, key);
  if (helper) await helperStore(helper, helperServer(key), credentials);
  // With a helper the file keeps only an empty marker entry, as docker writes it.
  auths[helperServer(key)] = helper ? {} : { auth: Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64') };
  await writeConfigFile(file, { ...config, auths });
}

/** Removes the credentials for `server`; false when there were none. */
export async function removeCredentials(server: string, file = dockerConfigPath()): Promise<boolean> {
  const config = await readConfigFile(file);
  const key = credentialKey(server);
  const entries = Object.entries(config.auths ?? {});
  const kept = entries.filter(([k]) => credentialKey(k) !== key);
  const helper = helperFor(config, key);
  const erased = helper ? await helperErase(helper, helperServer(key)) : false;
  if (kept.length === entries.length) return erased;
  await writeConfigFile(file, { ...config, auths: Object.fromEntries(kept) });
  return true;
}
