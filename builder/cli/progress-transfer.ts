/**
 * docker pull / docker push progress: one line per blob, `a65120d3a65c: Downloading [=====>    ] 12.3MB/45.6MB 3.1MB/s`,
 * redrawn in place on a terminal (at most every 100 ms); without a terminal one line per blob when it is
 * finished (`Pull complete`, `Already exists`, `Pushed`, `Mounted from REPO`, `Layer already exists`).
 */
import type { TransferEvent } from '../events.js';
import { fit, formatBytes } from './terminal.js';

export { formatBytes };

const BAR_WIDTH = 50;
const FRAME_MS = 100;

/** docker's status words. */
export function transferLine(event: TransferEvent, tty: boolean, bytesPerSecond: number, barWidth = BAR_WIDTH): string {
  switch (event.status) {
    case 'waiting': return `${event.id}: ${event.direction === 'pull' ? 'Pulling fs layer' : 'Preparing'}`;
    case 'exists': return `${event.id}: Already exists`;
    case 'complete': return `${event.id}: Pull complete`;
    case 'pushed': return `${event.id}: Pushed`;
    case 'layer-exists': return `${event.id}: Layer already exists`;
    case 'mounted': return `${event.id}: Mounted from ${event.from ?? 'another repository'}`;
    case 'downloading':
    case 'uploading': {
      const verb = event.status === 'downloading' ? 'Downloading' : 'Pushing';
      const current = event.current ?? 0;
      if (!tty || event.total === undefined || event.total <= 0) return `${event.id}: ${verb} ${formatBytes(current)}`;
      const rate = bytesPerSecond > 0 ? ` ${formatBytes(bytesPerSecond)}/s` : '';
      return `${event.id}: ${verb} ${bar(current / event.total, barWidth)} ${formatBytes(current)}/${formatBytes(event.total)}${rate}`;
    }
  }
}

/** `[=====>      ]`, docker's 50-column bar (narrower where the line must fit a small terminal). */
export function bar(fraction: number, width = BAR_WIDTH): string {
  const filled = Math.max(0, Math.min(width, Math.floor(fraction * width)));
  if (filled >= width) return `[${'='.repeat(width)}]`;
  return `[${'='.repeat(filled)}>${' '.repeat(width - filled - 1)}]`;
}

/** Bytes per second since a blob started moving; 0 until there is enough time to say. */
export function transferRate(event: TransferEvent, firstAt: number | undefined, firstBytes: number, now: number): number {
  const seconds = firstAt !== undefined ? (now - firstAt) / 1000 : 0;
  return seconds > 0.2 ? ((event.current ?? 0) - firstBytes) / seconds : 0;
}

const FINAL = new Set<TransferEvent['status']>(['complete', 'exists', 'pushed', 'layer-exists', 'mounted']);

/** Renders transfer events for `builder pull`/`push` and `build --push`; other messages pass through `note`. */
export class TransferProgress {
  private readonly layers = new Map<string, { event: TransferEvent; firstAt?: number; firstBytes: number }>();
  private printed = 0;
  /** Leading layers already drawn in their final state: they stay on screen and leave the redrawn block. */
  private committed = 0;
  private timer?: NodeJS.Timeout;
  private dirty = false;

  constructor(
    private readonly write: (text: string) => void,
    private readonly tty: boolean,
    private readonly columns: () => number = () => 80,
    private readonly now: () => number = Date.now,
  ) {}

  readonly onTransfer = (event: TransferEvent): void => {
    const known = this.layers.get(event.id);
    if (!this.tty) {
      // One line per blob: only its final state, once.
      if (FINAL.has(event.status) && !(known && FINAL.has(known.event.status))) this.write(`${transferLine(event, false, 0)}\n`);
      this.layers.set(event.id, { event, firstBytes: 0 });
      return;
    }
    const moving = event.status === 'downloading' || event.status === 'uploading';
    const firstAt = known?.firstAt ?? (moving ? event.time : undefined);
    const firstBytes = known?.firstAt !== undefined ? known.firstBytes : (event.current ?? 0);
    this.layers.set(event.id, { event, firstAt, firstBytes });
    this.dirty = true;
    this.timer ??= setInterval(() => this.draw(), FRAME_MS).unref();
  };

  /** A line that is not about one blob (`Digest: …`); printed below the layer lines, which stay finished. */
  readonly note = (message: string): void => {
    if (this.tty) this.finish();
    this.write(`${message}\n`);
  };

  /** Draws the last frame and leaves it on screen; the next transfer starts a new block. */
  finish(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    if (this.tty && this.dirty) this.draw();
    this.layers.clear();
    this.printed = 0;
    this.committed = 0;
  }

  private draw(): void {
    if (!this.dirty) return;
    this.dirty = false;
    const width = Math.max(20, this.columns() - 1);
    const now = this.now();
    const block = [...this.layers.values()].slice(this.committed);
    const lines = block.map(({ event, firstAt, firstBytes }) => fit(transferLine(event, true, transferRate(event, firstAt, firstBytes, now)), width));
    const up = this.printed > 0 ? `\x1b[${this.printed}F` : '';
    this.write(`${up}${lines.map((l) => `${l}\x1b[K`).join('\n')}\n`);
    // An image with many layers must not redraw more than the screen holds: finished lines at the top stay put.
    let settled = 0;
    while (settled < block.length && FINAL.has(block[settled]!.event.status)) settled++;
    this.committed += settled;
    this.printed = lines.length - settled;
    // Keep redrawing while anything moves: the rate changes even between events.
    if (block.some((l) => !FINAL.has(l.event.status))) this.dirty = true;
  }
}
