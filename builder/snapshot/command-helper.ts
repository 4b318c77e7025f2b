/**
 * Short commands (mount, umount) run through long-lived /bin/sh children instead of a fresh spawn each.
 *
 * Why: libuv's spawn forks this process and blocks the event loop until the child has exec'd, so its cost grows
 * with our memory: at a build's ~75 MB RSS a spawn of /bin/true took 5-15 ms of blocked loop under load (3 ms at
 * 51 MB, 13 ms at 157 MB), while the same command through a waiting sh (a 1 MB process, whose fork is cheap) took
 * 0.6 ms. A build step mounts and unmounts once each, so this is paid twice per step, on the step's path.
 *
 * Protocol (per shell): each request is one shell line, `( cd DIR && exec CMD ARGS ) </dev/null 2>&1; printf '\n@@TOKEN %d\n' $?`;
 * sh runs them in order, so replies come back in request order. Commands that need stdin are not for this helper.
 * A split request (runCommandSplit: a reader such as getfattr whose stdout is data) keeps stdout apart: its stderr is
 * caught in a shell variable and printed after stdout behind a second marker, `@@TOKEN-E`.
 * If the helper is gone before a request is written, the request runs with a direct spawn; one in flight when it
 * dies (killed with our process group by Ctrl-C) fails rather than running twice.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { HelperChild } from './helper-child.js';

export interface CommandResult {
  code: number;
  /** stdout and stderr together, trimmed. */
  output: string;
}

/** A split request's result: stdout exactly as written (not trimmed), stderr trimmed; code 127 if the command is missing. */
export interface SplitResult {
  code: number;
  stdout: string;
  stderr: string;
}

interface Pending {
  resolve(result: CommandResult | SplitResult): void;
  reject(err: Error): void;
  chunks: string[];
  split: boolean;
}

/** The helper went away; `sent` says whether the command may have run (then it is not run again). */
class HelperGone extends Error {
  constructor(readonly sent: boolean) {
    super('the command helper (/bin/sh) exited');
  }
}

/** Single-quotes `value` for sh. */
function quote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

class ShellHelper extends HelperChild<Pending> {
  private readonly token = `@@${randomBytes(8).toString('hex')}`;
  private buffer = '';

  constructor() {
    super('/bin/sh', []);
  }

  run(command: string, args: string[], cwd: string, split = false): Promise<CommandResult | SplitResult> {
    if (this.dead) return Promise.reject(new HelperGone(false));
    return new Promise((resolve, reject) => {
      // The caller's PATH at the time of the call, as a direct spawn would look the command up (the shell's own
      // environment is the one it was forked with).
      const path = process.env.PATH === undefined ? '' : `PATH=${quote(process.env.PATH)}; `;
      const exec = `( ${path}cd -- ${quote(cwd)} && exec ${[command, ...args].map(quote).join(' ')} ) </dev/null`;
      // split: fd 3 is sh's stdout, so the command's stdout streams out while its stderr fills $__e (the space
      // after "$(" matters: "$((" would be arithmetic).
      const line = split
        ? `{ __e=$( ${exec} 2>&1 1>&3 3>&-); } 3>&1; printf '\\n%s\\n%s\\n${this.token} %d\\n' '${this.token}-E' "$__e" $?\n`
        : `${exec} 2>&1; printf '\\n${this.token} %d\\n' $?\n`;
      this.send({ resolve, reject, chunks: [], split }, line);
    });
  }

  protected onData(text: string): void {
    this.buffer += text;
    for (;;) {
      const marker = this.buffer.indexOf(`\n${this.token} `);
      if (marker < 0) break;
      const end = this.buffer.indexOf('\n', marker + 1);
      if (end < 0) break;
      const code = Number(this.buffer.slice(marker + this.token.length + 2, end));
      const output = this.buffer.slice(0, marker);
      this.buffer = this.buffer.slice(end + 1);
      const head = this.queue.shift();
      const status = Number.isInteger(code) ? code : 1;
      const whole = head ? head.chunks.join('') + output : output;
      // A split reply is stdout, "\n@@TOKEN-E\n", then stderr; stdout cannot hold the random token.
      const separator = head?.split ? whole.indexOf(`\n${this.token}-E\n`) : -1;
      if (separator >= 0) {
        const stderr = whole.slice(separator + this.token.length + 4).trim();
        head?.resolve({ code: status, stdout: whole.slice(0, separator), stderr });
      } else head?.resolve({ code: status, output: whole.trim() });
    }
    // Keep a long output's head with its request, so the buffer only ever holds a possible partial marker.
    const keep = this.token.length + 24;
    if (this.buffer.length > keep && this.queue[0]) {
      this.queue[0].chunks.push(this.buffer.slice(0, -keep));
      this.buffer = this.buffer.slice(-keep);
    }
  }

  protected failPending(waiting: Pending[]): void {
    for (const pending of waiting) pending.reject(new HelperGone(true));
  }
}

/**
 * Up to MAX_HELPERS shells, one more forked only when all are busy: one sh runs its requests in order, and a
 * step's unmount must not queue behind another stage's mount or a background release (three stages mounting at
 * once did: 8, 14 and 19 ms with one shell).
 */
const MAX_HELPERS = 4;
const helpers: ShellHelper[] = [];

function pickHelper(): ShellHelper {
  for (let index = helpers.length - 1; index >= 0; index--) if (helpers[index]!.dead) helpers.splice(index, 1);
  const idle = helpers.find((candidate) => candidate.pending === 0);
  if (idle) return idle;
  if (helpers.length < MAX_HELPERS) {
    const fresh = new ShellHelper();
    helpers.push(fresh);
    return fresh;
  }
  return helpers.reduce((best, candidate) => (candidate.pending < best.pending ? candidate : best));
}

/** A fresh spawn: the fallback when no helper can take the request. */
function direct(command: string, args: string[], cwd: string): Promise<SplitResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
    child.on('error', reject);
    child.on('close', (code) =>
      resolve({ code: code ?? 1, stdout: Buffer.concat(stdout).toString('utf8'), stderr: Buffer.concat(stderr).toString('utf8').trim() }));
  });
}

/**
 * Runs one request through a helper (split or not); a direct spawn if no helper can take it. Resolves the helper's
 * raw CommandResult, or the direct spawn's SplitResult.
 */
async function dispatch(command: string, args: string[], cwd: string, split: boolean): Promise<CommandResult | SplitResult> {
  let helper: ShellHelper;
  try {
    helper = pickHelper();
  } catch {
    return direct(command, args, cwd);
  }
  try {
    return await helper.run(command, args, cwd, split);
  } catch (err) {
    // A command the helper may have started (a mount that went through) is not run a second time: it fails, and
    // the caller's own retry or cleanup (umount's loop, the mount's error path) takes it from there.
    if (err instanceof HelperGone && err.sent) return { code: 1, stdout: '', stderr: `${command} was interrupted: ${err.message}` };
    return direct(command, args, cwd);
  }
}

/**
 * Runs `command args` in `cwd` with no stdin and resolves its exit code and output. Through the shared sh helper;
 * a direct spawn if the helper cannot take it (then the next call starts a new helper).
 */
export async function runCommand(command: string, args: string[], cwd = '/'): Promise<CommandResult> {
  const result = await dispatch(command, args, cwd, false);
  if ('output' in result) return result;
  return { code: result.code, output: [result.stdout.trim(), result.stderr].filter((part) => part !== '').join('\n') };
}

/**
 * Like runCommand, but stdout comes back exactly as written and apart from stderr: for readers whose stdout is data
 * (getfattr dumps). A missing command is code 127 both ways (sh's "not found", or the direct spawn's ENOENT).
 */
export async function runCommandSplit(command: string, args: string[], cwd = '/'): Promise<SplitResult> {
  let result: CommandResult | SplitResult;
  try {
    result = await dispatch(command, args, cwd, true);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { code: 127, stdout: '', stderr: `${command}: not found` };
    throw err;
  }
  // No separator came back (sh itself failed the line): all of it is an error message.
  return 'output' in result ? { code: result.code || 1, stdout: '', stderr: result.output } : result;
}
