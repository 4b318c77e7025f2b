/**
 * `builder build --ssh default|<id>[=<socket>|<key>[,<key>…]]`, read as buildx reads it (buildkit's
 * sshprovider): no path means $SSH_AUTH_SOCK; one path that is a socket is an agent to forward; otherwise the
 * paths are private key files, which buildx loads into an agent of its own. Ours is a private `ssh-agent`
 * (openssh-client) holding them for the build's duration and stopped after it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { BuildError, errorMessage } from '../errors.js';

/** One parsed `--ssh` flag. */
export interface SshSpec {
  id: string;
  paths: string[];
}

/** The agents of one build: id → socket; `close` stops the ones started for key files. */
export interface SshAgents {
  agents: Map<string, string>;
  close(): Promise<void>;
}

const invalid = (message: string): BuildError => new BuildError('INVALID_ARGUMENT', message);

export function parseSshFlag(flag: string): SshSpec {
  const eq = flag.indexOf('=');
  const id = (eq < 0 ? flag : flag.slice(0, eq)).trim();
  if (!id) throw invalid(`invalid --ssh "${flag}": an id is required (use default, default=<socket> or <id>=<key file>[,<key file>])`);
  const paths = eq < 0 ? [] : flag.slice(eq + 1).split(',').filter((item) => item !== '');
  return { id, paths };
}

/** A socket path for an agent of ours that `ssh-agent -a` can bind (sun_path is 108 bytes). */
async function agentDir(): Promise<string> {
  return mkdtemp(path.join(os.tmpdir(), `builder-ssh-agent-${process.pid}-`));
}

/** Runs a command to its end; rejects with its stderr on a non-zero exit. */
function runTool(command: string, args: string[], env: NodeJS.ProcessEnv): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => { stderr += chunk; });
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(stderr.trim() || `${command} exited with ${code}`))));
  });
}

async function waitForSocket(socket: string, agent: ChildProcess): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (agent.exitCode !== null) throw new Error(`ssh-agent exited with ${agent.exitCode}`);
    if ((await stat(socket).catch(() => undefined))?.isSocket()) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error('ssh-agent did not open its socket');
}

/** A private ssh-agent holding `keys`. */
async function startKeyAgent(id: string, keys: string[]): Promise<{ socket: string; stop(): Promise<void> }> {
  const dir = await agentDir();
  const socket = path.join(dir, 'agent.sock');
  let agent: ChildProcess | undefined;
  const stop = async (): Promise<void> => {
    if (agent && agent.exitCode === null && agent.signalCode === null) {
      const exited = new Promise((resolve) => agent!.once('exit', resolve));
      agent.kill('SIGTERM');
      await exited;
    }
    await rm(dir, { recursive: true, force: true });
  };
  try {
    agent = spawn('ssh-agent', ['-D', '-a', socket], { stdio: 'ignore' });
    await new Promise<void>((resolve, reject) => {
      agent!.once('spawn', resolve);
      agent!.once('error', (err) => reject(new Error(`cannot start ssh-agent (install openssh-client): ${errorMessage(err)}`)));
    });
    await waitForSocket(socket, agent);
    const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, SSH_AUTH_SOCK: socket, SSH_ASKPASS_REQUIRE: 'never' };
    await runTool('ssh-add', ['-q', ...keys], env).catch((err: unknown) => {
      throw new Error(`failed to load ${keys.join(', ')}: ${errorMessage(err)}`);
    });
    return { socket, stop };
  } catch (err) {
    await stop().catch(() => undefined);
    throw invalid(`--ssh ${id}: ${errorMessage(err)}`);
  }
}

/**
 * Resolves every `--ssh` flag to an agent socket. Key files are checked now (before the build): a missing or
 * unreadable one, or a socket among several paths, is an error here.
 */
export async function loadSshAgents(flags: string[], env: NodeJS.ProcessEnv = process.env): Promise<SshAgents | undefined> {
  if (flags.length === 0) return undefined;
  const agents = new Map<string, string>();
  const stops: (() => Promise<void>)[] = [];
  const close = async (): Promise<void> => {
    for (const stop of stops.splice(0)) await stop().catch(() => undefined);
  };
  try {
    for (const flag of flags) {
      const spec = parseSshFlag(flag);
      if (agents.has(spec.id)) throw invalid(`--ssh ${spec.id}: given more than once`);
      let paths = spec.paths;
      if (paths.length === 0) {
        const sock = env.SSH_AUTH_SOCK;
        if (!sock) throw invalid(`--ssh ${spec.id}: invalid empty ssh agent socket: make sure SSH_AUTH_SOCK is set`);
        paths = [sock];
      }
      const kinds = await Promise.all(paths.map(async (item) => {
        const info = await stat(item).catch((err: unknown) => { throw invalid(`--ssh ${spec.id}: ${item}: ${errorMessage(err)}`); });
        return info.isSocket();
      }));
      if (kinds.some(Boolean)) {
        if (paths.length > 1) throw invalid(`--ssh ${spec.id}: only single socket allowed`);
        agents.set(spec.id, path.resolve(paths[0]!));
        continue;
      }
      const started = await startKeyAgent(spec.id, paths.map((item) => path.resolve(item)));
      stops.push(started.stop);
      agents.set(spec.id, started.socket);
    }
  } catch (err) {
    await close();
    throw err;
  }
  return { agents, close };
}
