/**
 * A real terminal for tests: a detached tmux session on a private socket (never the user's server),
 * a command run in it, and the screen read back with capture-pane, as a person would see it.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { runCommand } from './cli.js';

export function tmuxAvailable(): boolean {
  return existsSync('/usr/bin/tmux') || existsSync('/usr/local/bin/tmux');
}

export class TmuxScreen {
  private constructor(private readonly socket: string, readonly session: string) {}

  /** Starts `shellCommand` in a new `columns`×`rows` terminal; the pane stays after it exits so the last screen can be read. */
  static async start(shellCommand: string, columns = 100, rows = 40, env: Record<string, string> = {}): Promise<TmuxScreen> {
    const socket = `builder-test-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
    const exports = Object.entries(env).map(([k, v]) => `export ${k}='${v.replace(/'/g, `'\\''`)}'; `).join('');
    const result = await runCommand('tmux', ['-L', socket, '-f', '/dev/null', 'new-session', '-d', '-s', 'test', '-x', String(columns), '-y', String(rows),
      `unset BUILDKIT_PROGRESS; ${exports}${shellCommand}; echo "[exit $?]"; sleep 600`], { env: { TERM: 'xterm-256color' } });
    if (result.code !== 0) throw new Error(`tmux new-session failed: ${result.stderr}`);
    return new TmuxScreen(socket, 'test');
  }

  /** The visible screen, trailing blank lines trimmed; `escapes` keeps the colour (SGR) sequences tmux saw. */
  capture(escapes = false): string {
    const args = ['-L', this.socket, 'capture-pane', '-p', ...(escapes ? ['-e'] : []), '-t', this.session];
    return execFileSync('tmux', args, { encoding: 'utf8' }).replace(/\s+$/, '');
  }

  /** Polls the screen until `test` holds (every 100 ms), or throws with the last screen after `timeoutMs`. */
  async waitFor(test: (screen: string) => boolean, what: string, timeoutMs = 60_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    let screen = '';
    while (Date.now() < deadline) {
      screen = this.capture();
      if (test(screen)) return screen;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error(`timed out waiting for ${what}; the screen was:\n${screen}`);
  }

  /** Types into the pane: literal text, or tmux key names such as `Enter`, `C-p`. */
  async sendKeys(...keys: string[]): Promise<void> {
    const result = await runCommand('tmux', ['-L', this.socket, 'send-keys', '-t', this.session, ...keys]);
    if (result.code !== 0) throw new Error(`tmux send-keys failed: ${result.stderr}`);
  }

  /** Resizes the terminal, as a user dragging the window would (the program gets SIGWINCH). */
  async resize(columns: number, rows: number): Promise<void> {
    const result = await runCommand('tmux', ['-L', this.socket, 'resize-window', '-t', this.session, '-x', String(columns), '-y', String(rows)]);
    if (result.code !== 0) throw new Error(`tmux resize-window failed: ${result.stderr}`);
  }

  async stop(): Promise<void> {
    await runCommand('tmux', ['-L', this.socket, 'kill-server']);
  }
}
