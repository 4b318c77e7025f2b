/**
 * BuildKit's tty progress: a frame redrawn in place (at most every 100 ms) with a header, one line per step
 * (running ones with a live timer and their last output lines, finished ones collapsed to `=> [3/8] RUN make  4.2s`),
 * cache-miss reasons and base-image pulls as sub-lines; when the build ends the last frame stays, and a failed
 * step's output tail is printed in BuildKit's `------` box before the CLI's error and `>>>` excerpt.
 */
import type { BuildEvent, TransferEvent } from '../events.js';
import { transferLine, transferRate } from './progress-transfer.js';
import { fit, formatSeconds, paint, printable, type Colour } from './terminal.js';

/** Where the frame goes and how big the terminal is now (it may be resized while a build runs). */
export interface TtyOutput {
  write(text: string): void;
  columns(): number;
  rows(): number;
  color: boolean;
}

interface Vertex {
  id: string;
  name: string;
  state: 'running' | 'done' | 'cached' | 'error';
  startedAt: number;
  endedAt?: number;
  reason?: string;
  /** Last lines of output (shown while running; the error box shows them on failure). */
  tail: string[];
  partial: string;
  /** Base-image pull: its layers, by short digest. */
  transfers?: Map<string, { event: TransferEvent; firstAt?: number; firstBytes: number }>;
}

const LIVE_LOG_LINES = 6;
const ERROR_LOG_LINES = 10;
const FRAME_MS = 100;

export class TtyProgress {
  private readonly vertices = new Map<string, Vertex>();
  private readonly started: number;
  private printed = 0;
  private finished?: Extract<BuildEvent, { type: 'build.done' }>;
  private readonly warnings: string[] = [];
  private timer?: NodeJS.Timeout;
  private dirty = false;

  constructor(private readonly out: TtyOutput, private readonly now: () => number = Date.now) {
    this.started = now();
  }

  readonly onEvent = (event: BuildEvent): void => {
    if (this.finished) {
      // After the last frame (e.g. a cache export's warning): plain lines below it, no more redraws.
      const other = event as { type: string; message?: unknown };
      if (other.type === 'warning' && typeof other.message === 'string') this.out.write(`${paint(`WARNING: ${other.message}`, 'yellow', this.out.color)}\n`);
      return;
    }
    this.apply(event);
    if (event.type === 'build.done') {
      this.stop();
      // A build that failed before any step (a Dockerfile error) has no frame to show: the error says it all.
      if (this.vertices.size === 0 && event.error) return;
      this.draw(true);
      this.printErrorBox();
      return;
    }
    this.dirty = true;
    // The timer only runs while something is on screen: a CLI that never builds leaves no handle behind.
    // unref: build.done (sent on success and failure) stops it, and it must never keep the CLI alive.
    this.timer ??= setInterval(() => this.draw(false), FRAME_MS).unref();
  };

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  private apply(event: BuildEvent): void {
    switch (event.type) {
      case 'step.start':
        this.vertices.set(event.stepId, { id: event.stepId, name: event.name, state: 'running', startedAt: event.time, reason: event.reason, tail: [], partial: '' });
        break;
      case 'step.cached':
        this.vertices.set(event.stepId, { id: event.stepId, name: event.name, state: 'cached', startedAt: event.time, endedAt: event.time, tail: [], partial: '' });
        break;
      case 'step.log': {
        const vertex = this.vertices.get(event.stepId);
        if (!vertex) break;
        const lines = (vertex.partial + event.data).split('\n');
        vertex.partial = lines.pop() ?? '';
        for (const line of lines) vertex.tail.push(printable(line));
        if (vertex.tail.length > ERROR_LOG_LINES) vertex.tail.splice(0, vertex.tail.length - ERROR_LOG_LINES);
        break;
      }
      case 'step.done':
      case 'step.error': {
        const vertex = this.vertices.get(event.stepId);
        if (!vertex) break;
        if (vertex.partial) vertex.tail.push(printable(vertex.partial));
        vertex.partial = '';
        vertex.state = event.type === 'step.done' ? 'done' : 'error';
        vertex.endedAt = event.time;
        break;
      }
      case 'transfer': {
        const id = `pull ${event.ref}`;
        let vertex = this.vertices.get(id);
        if (!vertex) {
          vertex = { id, name: `[internal] ${event.direction} ${event.ref}`, state: 'running', startedAt: event.time, tail: [], partial: '', transfers: new Map() };
          this.vertices.set(id, vertex);
        }
        const known = vertex.transfers!.get(event.id);
        const moving = event.status === 'downloading' || event.status === 'uploading';
        vertex.transfers!.set(event.id, {
          event,
          firstAt: known?.firstAt ?? (moving ? event.time : undefined),
          firstBytes: known?.firstAt !== undefined ? known.firstBytes : (event.current ?? 0),
        });
        const all = [...vertex.transfers!.values()].map((t) => t.event);
        if (all.every((t) => t.status !== 'waiting' && t.status !== 'downloading' && t.status !== 'uploading')) {
          vertex.state = 'done';
          vertex.endedAt = event.time;
        } else {
          vertex.state = 'running';
          vertex.endedAt = undefined;
        }
        break;
      }
      default: {
        // `warning` (a broken cache record, an unreachable shared cache): listed under the steps, as BuildKit does.
        const other = event as { type: string; message?: unknown };
        if (other.type === 'warning' && typeof other.message === 'string') this.warnings.push(other.message);
        break;
      }
      case 'build.done':
        this.finished = event;
        for (const vertex of this.vertices.values()) {
          if (vertex.state === 'running') {
            vertex.state = event.error ? 'error' : 'done';
            vertex.endedAt = event.time;
          }
        }
        break;
    }
  }

  /** The frame as lines (no escapes but colour), `width` columns at most. Exported for tests through render(). */
  render(final: boolean): string[] {
    const width = Math.max(20, this.out.columns() - 1);
    const now = this.finished?.time ?? this.now();
    const vertices = [...this.vertices.values()];
    const complete = vertices.filter((v) => v.state !== 'running').length;
    const elapsed = formatSeconds((this.finished ? this.finished.time : now) - this.started);
    const status = this.finished ? (this.finished.error ? ' ERROR' : ' FINISHED') : '';
    const lines = [paint(fit(`[+] Building ${elapsed} (${complete}/${vertices.length})${status}`, width), this.finished && !this.finished.error ? 'blue' : undefined, this.out.color)];
    for (const vertex of vertices) {
      lines.push(this.vertexLine(vertex, now, width));
      if (vertex.reason && vertex.state !== 'cached') lines.push(paint(fit(` => => cache miss: ${vertex.reason}`, width), 'dim', this.out.color));
      if (vertex.transfers && vertex.state === 'running') {
        // docker pull's line under the step; the bar shrinks so bytes and rate still fit the terminal.
        const barWidth = Math.max(10, Math.min(50, width - 60));
        for (const { event, firstAt, firstBytes } of vertex.transfers.values()) {
          lines.push(fit(` => => ${transferLine(event, true, transferRate(event, firstAt, firstBytes, now), barWidth)}`, width));
        }
      }
      if (vertex.state === 'running' && !final) {
        const shown = [...vertex.tail, ...(vertex.partial ? [printable(vertex.partial)] : [])].slice(-LIVE_LOG_LINES);
        for (const line of shown) lines.push(paint(fit(` => => # ${line}`, width), 'dim', this.out.color));
      }
    }
    for (const warning of this.warnings) lines.push(paint(fit(` WARNING: ${printable(warning)}`, width), 'yellow', this.out.color));
    if (this.finished?.imageDigest) lines.push(paint(fit(` => writing image ${this.finished.imageDigest}`, width), 'blue', this.out.color));
    return lines;
  }

  private vertexLine(vertex: Vertex, now: number, width: number): string {
    const prefix = vertex.state === 'cached' ? 'CACHED ' : vertex.state === 'error' ? 'ERROR ' : '';
    const seconds = formatSeconds((vertex.endedAt ?? now) - vertex.startedAt);
    const left = ` => ${prefix}${vertex.name}`;
    const room = width - seconds.length - 1;
    const text = `${fit(left, room).padEnd(room)} ${seconds}`;
    const colour: Colour | undefined = vertex.state === 'error' ? 'red' : vertex.state === 'running' ? undefined : 'blue';
    return paint(text, colour, this.out.color);
  }

  /** Redraws in place: up to the first line of the last frame, each line cleared to its end, the rest cleared below. */
  private draw(final: boolean): void {
    if (!final && !this.dirty && ![...this.vertices.values()].some((v) => v.state === 'running')) return;
    this.dirty = false;
    let lines = this.render(final);
    const rows = this.out.rows();
    if (!final && lines.length > rows - 1) {
      // Too tall for the screen: keep the header and the newest lines (running steps are at the end).
      lines = [lines[0]!, ...lines.slice(lines.length - (rows - 2))];
    }
    const up = this.printed > 0 ? `\x1b[${this.printed}F` : '';
    this.out.write(`${up}${lines.map((l) => `${l}\x1b[K`).join('\n')}\n\x1b[J`);
    this.printed = Math.min(lines.length, rows - 1);
  }

  private printErrorBox(): void {
    for (const vertex of this.vertices.values()) {
      if (vertex.state !== 'error' || vertex.tail.length === 0) continue;
      const box = ['------', ` > ${vertex.name}:`, ...vertex.tail.slice(-ERROR_LOG_LINES).map((l) => `${l}`), '------'];
      this.out.write(`${box.join('\n')}\n`);
    }
  }
}
