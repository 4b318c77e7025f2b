/**
 * `--progress=auto|tty|plain|rawjson|quiet` → the BuildEvent printer, and the matching transfer printer for
 * pulls and pushes. Everything goes to stderr so stdout keeps the image id.
 */
import type { BuildEvent, TransferEvent } from '../events.js';
import { plainProgress } from './progress.js';
import { TransferProgress } from './progress-transfer.js';
import { TtyProgress } from './progress-tty.js';
import { resolveProgressMode, terminalInfo, type ProgressMode } from './terminal.js';

export interface BuildProgress {
  mode: ProgressMode;
  onEvent: (event: BuildEvent) => void;
  /** Stops timers (a build that throws before build.done must not keep the process alive). */
  stop(): void;
}

export function buildProgress(requested: string, stream: NodeJS.WriteStream = process.stderr): BuildProgress {
  const terminal = terminalInfo(stream);
  const mode = resolveProgressMode(requested, terminal);
  const write = (text: string): void => void stream.write(text);
  switch (mode) {
    case 'quiet':
      return { mode, onEvent: () => {}, stop: () => {} };
    case 'rawjson':
      return { mode, onEvent: (event) => write(`${JSON.stringify(event)}\n`), stop: () => {} };
    case 'tty': {
      const tty = new TtyProgress({ write, columns: () => stream.columns || terminal.columns, rows: () => stream.rows || terminal.rows, color: terminal.color });
      return { mode, onEvent: tty.onEvent, stop: () => tty.stop() };
    }
    case 'plain':
      return { mode, onEvent: plainProgress(write), stop: () => {} };
  }
}

/** Progress for `builder pull`/`push` and `build --push`: docker's per-layer lines; undefined when quiet. */
export function transferProgress(quiet: boolean | undefined, requested = 'auto', stream: NodeJS.WriteStream = process.stderr):
  { onTransfer: (event: TransferEvent) => void; note: (message: string) => void; finish(): void } | undefined {
  if (quiet) return undefined;
  const terminal = terminalInfo(stream);
  const mode = resolveProgressMode(requested, terminal);
  if (mode === 'quiet') return undefined;
  const write = (text: string): void => void stream.write(text);
  if (mode === 'rawjson') return { onTransfer: (event) => write(`${JSON.stringify(event)}\n`), note: (m) => write(`${m}\n`), finish: () => {} };
  const view = new TransferProgress(write, mode === 'tty', () => stream.columns || terminal.columns);
  return { onTransfer: view.onTransfer, note: view.note, finish: () => view.finish() };
}
