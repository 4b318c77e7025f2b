/**
 * The plumbing every long-lived helper process shares (the sh command helpers in command-helper.ts, the perl
 * mount helper in mount-syscall.ts): one child with piped stdio, a queue of requests answered in order, refs held
 * only while a request waits (a helper is never the reason our process stays up), and every waiting request
 * failed once when the child errors or exits. Subclasses say how a request is written and a reply is read.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';

export abstract class HelperChild<P> {
  protected readonly child: ChildProcessWithoutNullStreams;
  /** Requests written and not yet answered, oldest first. */
  protected readonly queue: P[] = [];
  dead = false;

  get pending(): number {
    return this.queue.length;
  }

  constructor(command: string, args: string[], cwd?: string) {
    this.child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'], ...(cwd ? { cwd } : {}) });
    this.child.stdout.setEncoding('utf8');
    this.child.stdout.on('data', (text: string) => {
      this.onData(text);
      if (!this.waiting) this.setRef(false);
    });
    this.child.stderr.resume();
    const fail = (): void => this.fail();
    this.child.on('error', fail);
    this.child.on('exit', fail);
    this.child.stdin.on('error', fail);
    this.child.unref();
    this.setRef(false);
  }

  /** Queues `pending` and writes its request line. */
  protected send(pending: P, line: string): void {
    this.queue.push(pending);
    this.setRef(true);
    this.child.stdin.write(line);
  }

  /** Whether our process must stay up for this child: while a request waits (a subclass may wait for more). */
  protected get waiting(): boolean {
    return this.queue.length > 0;
  }

  /** Reads replies out of stdout text, shifting answered requests off the queue. */
  protected abstract onData(text: string): void;

  /** The child is gone: settle the requests that were still waiting. */
  protected abstract failPending(waiting: P[]): void;

  protected setRef(on: boolean): void {
    for (const stream of [this.child.stdin, this.child.stdout, this.child.stderr]) {
      const socket = stream as unknown as { ref?: () => void; unref?: () => void };
      if (on) socket.ref?.();
      else socket.unref?.();
    }
  }

  private fail(): void {
    if (this.dead) return;
    this.dead = true;
    this.failPending(this.queue.splice(0));
    this.child.kill();
  }
}
