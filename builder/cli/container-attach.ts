import type { StdinBridge } from '../containers/attach-stdin.js';
import { DEFAULT_DETACH_KEYS, DetachKeyFilter, parseDetachKeys } from '../containers/detach-keys.js';
import type { Containers } from '../containers/service.js';
import { BuildError } from '../errors.js';

export interface AttachOptions {
  /** Forward our stdin (only when the container was created with -i). */
  stdin: boolean;
  /** Log lines from this Unix time on are shown (start -a: a second before the start). */
  since: number;
  detachKeys?: string;
  /** Without a TTY, SIGINT/SIGTERM/SIGHUP go to the container (docker's --sig-proxy, on by default). */
  sigProxy?: boolean;
  /**
   * We just started it (`start -a`, `run -i/-t`): a container that already exited is no error (docker attaches before
   * it starts); its output is shown and its exit code returned.
   */
  started?: boolean;
}

/** docker refuses `-it` (and `start -ai` of a TTY container) when stdin is not a terminal, before starting anything. */
export function checkTtyInput(tty: boolean, interactive: boolean): void {
  if (tty && interactive && !process.stdin.isTTY) throw new BuildError('INVALID_ARGUMENT', 'the input device is not a TTY');
}

/**
 * The terminal side of `start -a -i`, `attach` and a foreground `run -i`/`-t` through the monitor: our stdin goes into
 * the container (raw mode when both sides are terminals, so keys such as ctrl-c reach its pty), the log comes back as
 * it is written (partial lines too: a shell prompt has no newline), the pty follows our window size, and the detach
 * keys (ctrl-p ctrl-q) leave it running. Resolves the container's exit code, or 0 after a detach.
 */
export async function attachSession(service: Containers, id: string, options: AttachOptions): Promise<number> {
  const inspect = await service.inspect(id);
  const live = inspect.State.Running || inspect.State.Status === 'created';
  if (!live && !options.started) throw new BuildError('CONFLICT', 'You cannot attach to a stopped container, start it first');
  const tty = inspect.Config.Tty === true;
  const keys = parseDetachKeys(options.detachKeys ?? DEFAULT_DETACH_KEYS);
  const abort = new AbortController();
  const cleanups: (() => void)[] = [];
  let bridge: StdinBridge | undefined;
  let detached = false;
  try {
    if (options.stdin && inspect.Config.OpenStdin === true && live) {
      const input = process.stdin;
      checkTtyInput(tty, true);
      if (tty && input.isTTY) {
        input.setRawMode(true);
        cleanups.push(() => input.setRawMode(false));
      }
      // Detach keys apply to a TTY only (as dockerd: piped binary input may hold any byte).
      const filter = new DetachKeyFilter(tty ? keys : Buffer.alloc(0));
      filter.once('detach', () => { detached = true; abort.abort(); });
      input.pipe(filter);
      cleanups.push(() => { input.unpipe(filter); input.pause(); input.destroy(); });
      bridge = await service.attachStdin(id, filter).catch((err: unknown) => {
        // Exited between the inspect and the attach: nothing to feed, the output and exit code still come.
        if (options.started && err instanceof BuildError && err.code === 'CONFLICT') return undefined;
        throw err;
      });
    }
    if (tty && process.stdout.isTTY) {
      const resize = (): void => { void service.resize(id, process.stdout.rows, process.stdout.columns).catch(() => undefined); };
      resize();
      process.on('SIGWINCH', resize);
      cleanups.push(() => process.off('SIGWINCH', resize));
    }
    if (!tty && options.sigProxy !== false) {
      const forward = (signal: NodeJS.Signals): void => { void service.kill(id, signal).catch(() => undefined); };
      const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
      for (const signal of signals) process.on(signal, forward);
      cleanups.push(() => { for (const signal of signals) process.off(signal, forward); });
    }
    try {
      for await (const entry of service.logs(id, { follow: true, since: options.since, partial: true, signal: abort.signal })) {
        (entry.stream === 'stdout' ? process.stdout : process.stderr).write(entry.line);
      }
    } catch (err) {
      if (!detached) throw err;
    }
    if (detached) return 0;
    return (await service.wait(id)).StatusCode;
  } finally {
    bridge?.close();
    for (const cleanup of cleanups.reverse()) cleanup();
  }
}
