/**
 * The one git checkout: `ADD <git url>` (exec/add-git.ts) and a farm build's git context (worker/fetch-context.ts,
 * the daemon's remote context) both init a repository, fetch one ref shallowly and check it out. Callers differ
 * only in what they tell the user when git fails, so failures come back as GitCommandError (what was being done,
 * git's stderr) for each to word.
 */
import { spawn } from 'node:child_process';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { BuildError } from '../errors.js';

export interface GitCheckoutOptions {
  signal?: AbortSignal;
  /** Whether file:// remotes (and submodules) may be fetched; ext:: never is. */
  allowFile: boolean;
  /** When the shallow fetch of the ref fails (an abbreviated commit), fetch every branch and tag and resolve it there. */
  fullFallback?: boolean;
  /** Check out submodules (depth 1) when the tree has a .gitmodules. */
  submodules?: boolean;
  /** Kills a git command that runs longer (ms). */
  timeoutMs?: number;
  /** Extra environment for git (on top of no prompts, LC_ALL=C). */
  env?: Record<string, string>;
}

/** A git command that failed; `refNotFound` when the ref resolved to no commit after a full fetch. */
export class GitCommandError extends Error {
  constructor(readonly what: string, readonly stderr: string, readonly refNotFound = false) {
    super(`${what}: ${stderr.trim().split('\n').slice(-3).join('\n')}`);
    this.name = 'GitCommandError';
  }
}

interface GitResult { code: number; stdout: string; stderr: string }

function run(args: string[], cwd: string | undefined, options: GitCheckoutOptions): Promise<GitResult> {
  return new Promise((resolve, reject) => {
    const child = spawn('git', args, {
      cwd, signal: options.signal, timeout: options.timeoutMs, stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, GIT_TERMINAL_PROMPT: '0', LC_ALL: 'C', ...options.env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-8000)));
    child.on('error', (err) => {
      if (options.signal?.aborted) reject(new BuildError('CANCELLED', 'build cancelled while fetching from git'));
      else reject(new BuildError('INTERNAL', `cannot run git (is it installed?): ${err.message}`, { cause: err }));
    });
    child.on('close', (code) => {
      if (options.signal?.aborted) reject(new BuildError('CANCELLED', 'build cancelled while fetching from git'));
      else resolve({ code: code ?? 1, stdout, stderr });
    });
  });
}

/** One git command's stdout; a failure is a GitCommandError saying `what` was being done. */
export async function gitOutput(args: string[], what: string, cwd: string | undefined, options: GitCheckoutOptions): Promise<string> {
  const result = await run(args, cwd, options);
  if (result.code !== 0) throw new GitCommandError(what, result.stderr || `git exited ${result.code}`);
  return result.stdout;
}

/** Checks `ref` of `url` out into `tree` (created), depth 1 where the remote allows it; returns the commit. */
export async function gitCheckout(url: string, ref: string, tree: string, options: GitCheckoutOptions): Promise<string> {
  // The URL was checked against the [git] policy by the caller; git's own protocol rule backs it.
  const protocols = ['-c', 'protocol.ext.allow=never', '-c', `protocol.file.allow=${options.allowFile ? 'always' : 'never'}`];
  await gitOutput(['init', '-q', tree], 'git init failed', undefined, options);
  await gitOutput(['remote', 'add', 'origin', url], 'git remote add failed', tree, options);
  const shallow = await run([...protocols, 'fetch', '-q', '--depth', '1', '--no-tags', 'origin', ref], tree, options);
  if (shallow.code === 0) {
    await gitOutput(['-c', 'advice.detachedHead=false', 'checkout', '-q', 'FETCH_HEAD'], `checking out ${ref} of ${url} failed`, tree, options);
  } else if (!options.fullFallback) {
    throw new GitCommandError(`fetching ${ref} from ${url} failed`, shallow.stderr);
  } else {
    // Abbreviated commits (and servers that refuse fetching by commit) need the whole history.
    await gitOutput([...protocols, 'fetch', '-q', '--tags', 'origin', '+refs/heads/*:refs/remotes/origin/*'], `fetching ${url} failed`, tree, options);
    const commit = await run(['rev-parse', '--verify', '-q', `${ref}^{commit}`], tree, options);
    if (commit.code !== 0) throw new GitCommandError(`ref "${ref}" not found in ${url}`, commit.stderr, true);
    await gitOutput(['-c', 'advice.detachedHead=false', 'checkout', '-q', commit.stdout.trim()], `checking out ${ref} of ${url} failed`, tree, options);
  }
  if (options.submodules && (await stat(path.join(tree, '.gitmodules')).then(() => true, () => false))) {
    await gitOutput([...protocols, 'submodule', 'update', '-q', '--init', '--recursive', '--depth', '1'], `fetching submodules of ${url} failed`, tree, options);
  }
  return (await gitOutput(['rev-parse', 'HEAD'], 'git rev-parse failed', tree, options)).trim();
}
