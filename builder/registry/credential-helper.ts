/**
 * docker's credential helpers (docker-credential-helpers protocol): `docker-credential-<name> <action>` with
 * the input on stdin and JSON on stdout.
 *   get   stdin: server URL            stdout: {"ServerURL","Username","Secret"}; "credentials not found" → none;
 *                                      Username "<token>" makes Secret an identity token (OAuth2 refresh token)
 *   store stdin: {"ServerURL","Username","Secret"}
 *   erase stdin: server URL
 *   list  stdout: {"<server URL>": "<username>", …}
 * Secrets travel only over the pipes: never in argv, never in a message (a helper's stderr is not quoted).
 */
import { spawn } from 'node:child_process';
import { BuildError } from '../errors.js';
import type { Credentials } from './credentials.js';

const HELPER_TIMEOUT_MS = 30_000;
const NOT_FOUND = /credentials not found/i;

interface HelperOutput {
  code: number;
  stdout: string;
  stderr: string;
}

function runHelper(name: string, action: 'get' | 'store' | 'erase' | 'list', input: string): Promise<HelperOutput> {
  const program = `docker-credential-${name}`;
  return new Promise((resolve, reject) => {
    const child = spawn(program, [action], { stdio: ['pipe', 'pipe', 'pipe'] });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), HELPER_TIMEOUT_MS);
    child.on('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      const why = err.code === 'ENOENT' ? `${program} is not on PATH` : err.message;
      reject(new BuildError('REGISTRY_AUTH', `credential helper "${name}" (from ~/.docker/config.json) cannot run: ${why}`, { cause: err }));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? (signal ? 137 : 1), stdout: Buffer.concat(stdout).toString('utf8'), stderr: Buffer.concat(stderr).toString('utf8') });
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(input);
  });
}

/** The helper's own words when it fails, cut short; its stdout is never quoted (it may hold a secret). */
function failure(name: string, action: string, server: string, output: HelperOutput): BuildError {
  const said = (output.stderr.trim() || output.stdout.trim()).split('\n')[0]?.slice(0, 200) ?? '';
  const safe = action === 'get' ? '' : said;
  return new BuildError('REGISTRY_AUTH', `credential helper docker-credential-${name} ${action} failed for ${server} (exit ${output.code})${safe ? `: ${safe}` : ''}`);
}

export async function helperGet(name: string, server: string): Promise<Credentials | undefined> {
  const output = await runHelper(name, 'get', server);
  if (output.code !== 0) {
    if (NOT_FOUND.test(output.stdout) || NOT_FOUND.test(output.stderr)) return undefined;
    throw failure(name, 'get', server, output);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(output.stdout);
  } catch {
    throw new BuildError('REGISTRY_AUTH', `credential helper docker-credential-${name} get for ${server} did not print JSON`);
  }
  const entry = parsed as { Username?: unknown; Secret?: unknown };
  if (typeof entry.Username !== 'string' || typeof entry.Secret !== 'string') {
    throw new BuildError('REGISTRY_AUTH', `credential helper docker-credential-${name} get for ${server} printed no Username/Secret`);
  }
  if (entry.Secret === '') return undefined;
  // docker's convention: this username means the secret is an identity token, not a password.
  if (entry.Username === '<token>') return { username: entry.Username, password: '', identityToken: entry.Secret };
  return { username: entry.Username, password: entry.Secret };
}

export async function helperStore(name: string, server: string, credentials: Credentials): Promise<void> {
  const input = JSON.stringify({ ServerURL: server, Username: credentials.username, Secret: credentials.password });
  const output = await runHelper(name, 'store', input);
  if (output.code !== 0) throw failure(name, 'store', server, output);
}

/** false when the helper had nothing for `server`. */
export async function helperErase(name: string, server: string): Promise<boolean> {
  const output = await runHelper(name, 'erase', server);
  if (output.code === 0) return true;
  if (NOT_FOUND.test(output.stdout) || NOT_FOUND.test(output.stderr)) return false;
  throw failure(name, 'erase', server, output);
}

/** Server URL → username, as the helper lists them. */
export async function helperList(name: string): Promise<Record<string, string>> {
  const output = await runHelper(name, 'list', '');
  if (output.code !== 0) throw failure(name, 'list', '(all)', output);
  try {
    const parsed: unknown = JSON.parse(output.stdout || '{}');
    return typeof parsed === 'object' && parsed !== null ? (parsed as Record<string, string>) : {};
  } catch {
    throw new BuildError('REGISTRY_AUTH', `credential helper docker-credential-${name} list did not print JSON`);
  }
}
