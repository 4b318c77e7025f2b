/**
 * The runtime's processes (`runc run` of a RUN step) forked by a small long-lived perl process instead of by us.
 *
 * Why: libuv's spawn forks this ~75 MB process and blocks the event loop until the child has exec'd (page tables
 * copied, then torn down), 3-15 ms per fork; three stages starting their RUNs at once paid it on the path to the
 * last `runc create` (a CPU profile: 14-20 ms of `spawn` on the main thread before the sleeps). A fork of perl
 * (~5 MB) costs ~0.2 ms, and in another process. The server is one spawn, when the RUN handler loads.
 *
 * How the child stays ours: at `P` (asked for beside the bundle) the server forks a reporter, which makes the two
 * pipes and forks the program's process at once; that process takes a session of its own (as `detached: true`),
 * /dev/null and the pipes as stdio, and waits for its argv on a control pipe. We open the pipes' read ends through
 * /proc/<reporter>/fd/N (a new reference to the same pipe, so nothing written is lost and EOF still means every
 * writer is gone), and only then send `L`: the waiting process reads its argv and execs, so no fork is on the RUN's
 * path (as with the sh launchers forked ahead of time before). Its pid, process group, output and wait status are
 * what a spawn would give: the reporter says `S` after the exec (or `F` with the exec's errno, an 'error' event as
 * a spawn's ENOENT) and `E` with the wait status. Signals go straight to the pid, which is valid until `E` (the
 * reporter is its parent and reaps it only then). Without perl, with an unknown architecture or
 * `BUILDER_LAUNCH_SERVER=off`, callers spawn as before.
 */
import { EventEmitter } from 'node:events';
import { closeSync, constants as fsConstants, existsSync, openSync } from 'node:fs';
import { Socket } from 'node:net';
import os from 'node:os';
import type { Readable } from 'node:stream';
import { HelperChild } from '../snapshot/helper-child.js';
import { setsidSyscall } from '../snapshot/mount-syscall.js';
import { LAUNCH_SERVER_SCRIPT } from './launch-server-script.js';

/** What runSandbox needs of a runtime process: a spawned ChildProcess and a ServedChild both have it. */
export interface RuntimeChild extends EventEmitter {
  /** Known once the program runs (a ServedChild learns it from the server's reply). */
  readonly pid?: number | undefined;
  readonly stdout: Readable | null;
  readonly stderr: Readable | null;
  readonly exitCode: number | null;
  readonly signalCode: NodeJS.Signals | null;
  kill(signal?: NodeJS.Signals): boolean;
}

/** How long after the output ended a missing status makes us check on its reporter. */
const REPORTER_CHECK_MS = 500;

const SIGNAL_NAMES = new Map(Object.entries(os.constants.signals).map(([name, number]) => [number, name as NodeJS.Signals]));

/** A process the server launched: 'exit' on its wait status, 'close' once its output has ended too, 'error' if it never ran. */
class ServedChild extends EventEmitter implements RuntimeChild {
  pid: number | undefined;
  exitCode: number | null = null;
  signalCode: NodeJS.Signals | null = null;
  private open = 2;
  private exited = false;
  private pendingSignal?: NodeJS.Signals;
  private reporter?: number;
  private watch?: NodeJS.Timeout;

  /** `done` is called once, when the status is known or the launch failed. */
  constructor(readonly command: string, readonly stdout: Socket, readonly stderr: Socket, private readonly done: () => void) {
    super();
    for (const stream of [stdout, stderr]) {
      stream.on('error', () => undefined);
      stream.once('close', () => {
        this.open--;
        if (this.open === 0 && !this.exited) this.watchReporter();
        this.maybeClose();
      });
    }
  }

  onStart(pid: number, reporter: number): void {
    this.pid = pid;
    this.reporter = reporter;
    if (this.pendingSignal) this.kill(this.pendingSignal);
  }

  onExit(status: number): void {
    this.exited = true;
    clearTimeout(this.watch);
    this.done();
    const signal = status & 0x7f;
    if (signal === 0) this.exitCode = (status >> 8) & 0xff;
    else this.signalCode = SIGNAL_NAMES.get(signal) ?? 'SIGKILL';
    this.emit('exit', this.exitCode, this.signalCode);
    this.maybeClose();
  }

  onFail(message: string): void {
    this.exited = true;
    clearTimeout(this.watch);
    this.done();
    this.stdout.destroy();
    this.stderr.destroy();
    this.emit('error', new Error(message));
  }

  kill(signal: NodeJS.Signals = 'SIGTERM'): boolean {
    if (this.exited) return false;
    // Asked before the pid came back: sent the moment it does.
    if (this.pid === undefined) {
      this.pendingSignal = signal;
      return true;
    }
    try {
      process.kill(this.pid, signal);
      return true;
    } catch {
      return false;
    }
  }

  /**
   * The output ended and no status came: normally it follows within microseconds. If the process that waits for the
   * program is gone (killed), none ever will: fail rather than wait forever.
   */
  private watchReporter(): void {
    const check = (): void => {
      if (this.exited) return;
      let alive = this.reporter !== undefined;
      try {
        if (this.reporter !== undefined) process.kill(this.reporter, 0);
      } catch {
        alive = false;
      }
      if (alive) this.watch = setTimeout(check, REPORTER_CHECK_MS).unref();
      else this.onFail('the launch server lost the process (its reporter exited)');
    };
    // Unref'd: the wait for the status already keeps the process up (the server's stdout), and a status that comes
    // right after the output ended (the usual order) must not leave a timer holding the CLI's exit.
    this.watch = setTimeout(check, REPORTER_CHECK_MS).unref();
  }

  private maybeClose(): void {
    if (this.open === 0 && this.exited && (this.exitCode !== null || this.signalCode !== null)) this.emit('close', this.exitCode, this.signalCode);
  }
}

interface PendingPipes {
  id: string;
  resolve(pipes: { stdout: Socket; stderr: Socket } | undefined): void;
}

class LaunchServer extends HelperChild<PendingPipes> {
  private buffer = '';
  private next = 0;
  private answered = false;
  private readonly launches = new Map<string, ServedChild>();

  constructor(setsid: number) {
    super(existsSync('/usr/bin/perl') ? '/usr/bin/perl' : 'perl', ['-e', LAUNCH_SERVER_SCRIPT, String(setsid)], '/');
  }

  protected override get waiting(): boolean {
    return this.queue.length > 0 || this.launches.size > 0;
  }

  /** The read ends of a fresh stdout/stderr pair, opened here; undefined if the server cannot make them. */
  pipes(): Promise<{ id: string; stdout: Socket; stderr: Socket } | undefined> {
    if (this.dead) return Promise.resolve(undefined);
    const id = `l${(this.next++).toString(36)}`;
    return new Promise((resolve) => {
      this.send({ id, resolve: (pipes) => resolve(pipes && { id, ...pipes }) }, `P ${id}\n`);
    });
  }

  launch(id: string, pipes: { stdout: Socket; stderr: Socket }, command: string, argv: string[]): ServedChild | undefined {
    if (this.dead) return undefined;
    const child = new ServedChild(command, pipes.stdout, pipes.stderr, () => {
      this.launches.delete(id);
      if (!this.waiting) this.setRef(false);
    });
    this.launches.set(id, child);
    this.setRef(true);
    this.child.stdin.write(`L ${id} ${[command, ...argv].map((word) => Buffer.from(word, 'utf8').toString('hex')).join(' ')}\n`);
    return child;
  }

  drop(id: string): void {
    if (!this.dead) this.child.stdin.write(`D ${id}\n`);
  }

  protected onData(text: string): void {
    this.buffer += text;
    for (let end = this.buffer.indexOf('\n'); end >= 0; end = this.buffer.indexOf('\n')) {
      const [op, id = '', ...rest] = this.buffer.slice(0, end).split(' ');
      this.buffer = this.buffer.slice(end + 1);
      this.answered = true;
      // A P reply comes from that launch's reporter: not necessarily in request order.
      const asked = op === 'P' || op === 'F' ? this.queue.findIndex((pending) => pending.id === id) : -1;
      if (asked >= 0) {
        const [pending] = this.queue.splice(asked, 1);
        pending!.resolve(op === 'P' ? openPipes(rest) : undefined);
        continue;
      }
      const child = this.launches.get(id);
      if (!child) continue;
      if (op === 'S') child.onStart(Number(rest[0]), Number(rest[1]));
      else if (op === 'E') child.onExit(Number(rest[0]));
      else if (op === 'F') {
        // As a spawn's error reads: `spawn /usr/sbin/runc ENOENT`, here with the errno's text.
        child.onFail(`spawn ${child.command}: ${rest.slice(1).join(' ') || 'failed'} (errno ${rest[0]})`);
      }
    }
  }

  protected failPending(waiting: PendingPipes[]): void {
    // Never answered: no perl here. Launches already made go on: their reporters hold our stdout pipe open.
    if (!this.answered) disabled = true;
    for (const pending of waiting) pending.resolve(undefined);
  }
}

/** `<reporter pid> <fd> <fd>`: the read ends, opened through /proc (a new reference to the same pipe each). */
function openPipes(fields: string[]): { stdout: Socket; stderr: Socket } | undefined {
  const [pid, ...fds] = fields.map(Number);
  const opened: number[] = [];
  try {
    for (const fd of fds.slice(0, 2)) opened.push(openSync(`/proc/${pid}/fd/${fd}`, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK));
  } catch {
    for (const fd of opened) closeSync(fd);
    return undefined;
  }
  if (opened.length !== 2) {
    for (const fd of opened) closeSync(fd);
    return undefined;
  }
  const [stdout, stderr] = opened.map((fd) => new Socket({ fd, readable: true, writable: false }));
  return { stdout: stdout!, stderr: stderr! };
}

let server: LaunchServer | undefined;
let disabled = false;

function current(): LaunchServer | undefined {
  const setsid = setsidSyscall();
  if (disabled || setsid === undefined || process.env.BUILDER_LAUNCH_SERVER === 'off') return undefined;
  if (server && !server.dead) return server;
  try {
    server = new LaunchServer(setsid);
  } catch {
    disabled = true;
    server = undefined;
  }
  return server;
}

/** Starts the server ahead of the first launch (the RUN handler's load), so its start-up is not on a RUN's path. */
export function warmLaunchServer(): void {
  current();
}

/** One launch being prepared: its pipes are asked for at once, so they are ready by the time the bundle is. */
export interface PreparedLaunch {
  /** The running process, or undefined if the server could not launch it (the caller spawns it itself). */
  start(command: string, argv: string[]): Promise<RuntimeChild | undefined>;
  /** Gives the pipes back if start was never called; a no-op after it. */
  discard(): void;
}

export function prepareLaunch(): PreparedLaunch | undefined {
  const owner = current();
  if (!owner) return undefined;
  const pipes = owner.pipes();
  let used = false;
  return {
    async start(command, argv) {
      used = true;
      const ready = await pipes;
      if (!ready) return undefined;
      const child = owner.launch(ready.id, ready, command, argv);
      if (!child) {
        ready.stdout.destroy();
        ready.stderr.destroy();
      }
      return child;
    },
    discard() {
      if (used) return;
      used = true;
      void pipes.then((ready) => {
        if (!ready) return;
        ready.stdout.destroy();
        ready.stderr.destroy();
        owner.drop(ready.id);
      });
    },
  };
}
