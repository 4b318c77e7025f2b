/** Drives the real `builder` CLI as a child process, the way a user would. */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

/** Repository root (dist/test/helpers/cli.js → three levels up). */
export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
/** BUILDER_CLI points the tests at another build of the CLI (e.g. a work-in-progress copy). */
export const cliMain = process.env.BUILDER_CLI ?? path.join(repoRoot, 'dist', 'builder', 'cli', 'main.js');

/** Options for one CLI call. */
export interface CliOptions {
  /** BUILDER_ROOT for the call: tests never touch /var/lib/builder. */
  root: string;
  /** Written to the child's stdin, then stdin is closed. */
  input?: string;
  /** Working directory; the repository root by default. */
  cwd?: string;
  /** Extra environment variables. */
  env?: Record<string, string>;
  /** Kill the child after this many ms (default 110 s, under mocha's timeout). */
  timeoutMs?: number;
}

/** What the CLI did. */
export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function runCli(args: string[], options: CliOptions): Promise<CliResult> {
  return runCommand(process.execPath, [cliMain, ...args], {
    ...options,
    env: { ...options.env, BUILDER_ROOT: options.root },
  });
}

/** Runs any program; never rejects on a non-zero exit, only when it cannot be started. */
export function runCommand(
  program: string,
  args: string[],
  options: Omit<CliOptions, 'root'> = {},
): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(program, args, {
      cwd: options.cwd ?? repoRoot,
      env: { ...process.env, ...options.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 110_000);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({
        code: code ?? (signal ? 128 + 9 : 1),
        stdout: Buffer.concat(stdout).toString('utf8'),
        stderr: Buffer.concat(stderr).toString('utf8'),
      });
    });
    child.stdin.on('error', () => undefined); // the child may exit before reading its input
    child.stdin.end(options.input ?? '');
  });
}

/** Throws with both streams when a command failed: test failures then show why. */
/** Progress with timings and durations blanked, so two runs compare line by line. */
export const normalizeProgress = (text: string): string => text.replace(/\d+\.\d+s/g, 'N.Ns').replace(/^(#\d+) \d+\.\d{3} /gm, '$1 T ');

export function expectSuccess(result: CliResult, what: string): CliResult {
  if (result.code !== 0) {
    throw new Error(`${what} exited ${result.code}\nstdout:\n${result.stdout}\nstderr:\n${result.stderr}`);
  }
  return result;
}
