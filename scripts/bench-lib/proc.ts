import { spawn } from 'node:child_process';
import { access, constants } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import { BuildError } from '../../builder/errors.js';

/** What a finished command left behind; `ms` is its wall time. */
export interface CommandResult {
  stdout: string;
  stderr: string;
  exitCode: number;
  ms: number;
}

export interface CommandOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Resolve with the exit code instead of throwing when the command fails. */
  allowFailure?: boolean;
  /** Kill the command after this long (ms). */
  timeoutMs?: number;
}

// Output is clipped so a chatty build (20,000-file RUN logs) cannot eat memory.
const MAX_CAPTURE = 1 << 20;

/** Runs a command to completion and times it; throws a BuildError with the stderr tail on failure. */
export function runCommand(command: string, args: string[], options: CommandOptions = {}): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      if (stdout.length < MAX_CAPTURE) stdout += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString()).slice(-MAX_CAPTURE);
    });
    const timer = options.timeoutMs ? setTimeout(() => child.kill('SIGKILL'), options.timeoutMs) : undefined;
    child.on('error', (err) => {
      if (timer) clearTimeout(timer);
      reject(new BuildError('INTERNAL', `cannot start ${command}: ${err.message}`, { cause: err }));
    });
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      const exitCode = code ?? 128;
      if (exitCode !== 0 && !options.allowFailure) {
        const tail = stderr.trim().split('\n').slice(-8).join('\n');
        const how = signal ? `was killed by ${signal}` : `exited with ${exitCode}`;
        reject(new BuildError('INTERNAL', `${command} ${args.join(' ')} ${how}`, { detail: tail }));
        return;
      }
      resolve({ stdout, stderr, exitCode, ms });
    });
  });
}

/** The absolute path of an executable on PATH (or the path itself when absolute), else undefined. */
export async function findExecutable(name: string): Promise<string | undefined> {
  const candidates = name.includes('/')
    ? [name]
    : (process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(delimiter).map((dir) => join(dir, name));
  for (const candidate of candidates) {
    try {
      await access(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here; keep looking
    }
  }
  return undefined;
}
